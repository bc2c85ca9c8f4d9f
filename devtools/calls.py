"""What a DynamoDB client sends: the one call counter of the tests and the benchmarks.

Hooked into botocore's event system, so the code under measurement runs with
its real client (a table adapter, the stream writer, a whole GraphQL request),
from however many threads. A retry inside botocore is not another call.
"""

from __future__ import annotations

import threading
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from mypy_boto3_dynamodb import DynamoDBClient

READS = ("Query", "Scan", "GetItem")


@dataclass
class CallCounter:
    """Calls by operation, transactional actions, items the reads examined and,
    when asked for, the read units they consumed."""

    read_units_asked: bool = False
    calls: Counter[str] = field(default_factory=Counter)
    actions: int = 0
    # Query and Scan: the items examined (ScannedCount, filtered or not); GetItem: found.
    items_read: int = 0
    read_units: float = 0.0
    # The adapters query shards and scan segments from several threads.
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def _before(self, params: dict[str, Any], model: Any, **_: Any) -> None:
        with self._lock:
            self.calls[model.name] += 1
            self.actions += len(params.get("TransactItems", ()))
        if self.read_units_asked and model.name in READS:
            # DynamoDB (and DynamoDB Local) report what a read costs only when asked.
            params["ReturnConsumedCapacity"] = "TOTAL"

    def _after(self, parsed: dict[str, Any], model: Any, **_: Any) -> None:
        with self._lock:
            if model.name in ("Query", "Scan"):
                self.items_read += int(parsed.get("ScannedCount", 0))
            elif model.name == "GetItem":
                self.items_read += 1 if "Item" in parsed else 0
            consumed = parsed.get("ConsumedCapacity")
            if isinstance(consumed, dict) and model.name in READS:
                self.read_units += float(consumed.get("CapacityUnits", 0.0))

    def reset(self) -> None:
        with self._lock:
            self.calls.clear()
            self.actions = 0
            self.items_read = 0
            self.read_units = 0.0

    @property
    def round_trips(self) -> int:
        return sum(self.calls.values())


@contextmanager
def counting(client: DynamoDBClient, *, read_units: bool = False) -> Iterator[CallCounter]:
    """Count what ``client`` sends inside the block. ``read_units`` adds
    ``ReturnConsumedCapacity`` to the reads (the one change to the requests)."""
    counter = CallCounter(read_units_asked=read_units)
    events = client.meta.events
    events.register("before-parameter-build.dynamodb", counter._before)
    events.register("after-call.dynamodb", counter._after)
    try:
        yield counter
    finally:
        events.unregister("before-parameter-build.dynamodb", counter._before)
        events.unregister("after-call.dynamodb", counter._after)
