"""Fakes for the stream writer: DynamoDB transactions in memory, a clock that moves when slept."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from chalicelib.counts import MARKER_PREFIX
from chalicelib.stream.writer import CountsWriter
from devtools.faults import cancelled
from devtools.items import COUNTS_TABLE

# The wall clock of counts_writer: a known day, so buckets and retention are known.
NOV = datetime(2026, 11, 23, 10, 0, tzinfo=UTC)


class MemoryTransactions:
    """``TransactWriteItems`` with DynamoDB's all-or-nothing semantics, in memory."""

    def __init__(self) -> None:
        self.items: dict[tuple[str, str], dict[str, Any]] = {}

    def transact_write_items(self, TransactItems: list[dict[str, Any]]) -> dict[str, Any]:
        keys = []
        for action in TransactItems:
            body = action.get("Put") or action["Update"]
            key = body["Item"] if "Put" in action else body["Key"]
            keys.append((key["restaurant_id"]["S"], key["bucket"]["S"]))
        assert len(set(keys)) == len(keys), "one transaction touched an item twice"
        assert len(TransactItems) <= 100
        reasons = [
            {"Code": "ConditionalCheckFailed"}
            if "Put" in action and key in self.items
            else {"Code": "None"}
            for action, key in zip(TransactItems, keys, strict=True)
        ]
        if any(reason["Code"] != "None" for reason in reasons):
            raise cancelled(reasons)
        for action, key in zip(TransactItems, keys, strict=True):
            if "Put" in action:
                self.items[key] = action["Put"]["Item"]
            else:
                values = action["Update"]["ExpressionAttributeValues"]
                item = self.items.setdefault(key, {"favorite_count": {"N": "0"}})
                count = int(item["favorite_count"]["N"]) + int(values[":delta"]["N"])
                item["favorite_count"] = {"N": str(count)}
        return {}

    def counts(self) -> dict[tuple[str, str], int]:
        return {
            key: int(item["favorite_count"]["N"])
            for key, item in self.items.items()
            if not key[0].startswith(MARKER_PREFIX)
        }


class FakeTime:
    """A clock that only moves when the writer sleeps."""

    def __init__(self) -> None:
        self.now = 0.0
        self.sleeps: list[float] = []

    def monotonic(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.now += seconds


def counts_writer(client: Any, clock: FakeTime, budget: float = 5.0) -> CountsWriter:
    """A writer on ``client`` whose waits only move ``clock``; its wall clock is ``NOV``."""
    return CountsWriter(
        client,
        COUNTS_TABLE,
        shards=1,
        day_retention_days=90,
        marker_ttl_seconds=172800,
        budget_seconds=budget,
        clock=NOV.timestamp,
        monotonic=clock.monotonic,
        sleep=clock.sleep,
        rng=lambda: 1.0,  # the longest jittered delay: the budget's worst case
    )
