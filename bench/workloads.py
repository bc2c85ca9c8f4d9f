"""Workloads: uniform and Zipf(1.1) restaurant choice, stream batches, the hot-bucket hour.

Stream records come from ``devtools.events.stream_record``, the one builder of
Lambda-shaped stream records.
"""

from __future__ import annotations

import bisect
import itertools
import random
from collections import Counter
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from chalicelib.counts import CountKey
from chalicelib.stream.plan import plan_chunks
from chalicelib.stream.records import FavoriteEvent
from chalicelib.stream.writer import CountsWriter
from chalicelib.windows import buckets_for
from devtools.events import stream_record

ZIPF_EXPONENT = 1.1


class Chooser:
    """Picks restaurant indexes 0..n-1 uniformly or by Zipf(s): rank k has weight 1/k**s."""

    def __init__(self, restaurants: int, zipf: float | None, seed: int) -> None:
        self._rng = random.Random(seed)
        self._n = restaurants
        self._cumulative: list[float] | None = None
        if zipf is not None:
            self._cumulative = list(
                itertools.accumulate(1 / k**zipf for k in range(1, restaurants + 1))
            )

    def __call__(self) -> int:
        if self._cumulative is None:
            return self._rng.randrange(self._n)
        point = self._rng.random() * self._cumulative[-1]
        return min(bisect.bisect_left(self._cumulative, point), self._n - 1)


def stream_batches(
    *, batches: int, size: int, restaurants: int, zipf: float | None, stream_arn: str, seed: int
) -> list[list[dict[str, Any]]]:
    """``batches`` Lambda batches of ``size`` INSERT records, each by a new user."""
    choose = Chooser(restaurants, zipf, seed)
    now = datetime.now(UTC)
    users = itertools.count()
    return [
        [
            stream_record(
                "INSERT",
                f"r{choose():05d}",
                f"u{seed}-{next(users)}",
                now,
                stream_arn=stream_arn,
            )
            for _ in range(size)
        ]
        for _ in range(batches)
    ]


@dataclass(frozen=True)
class _SimulatedEvent(FavoriteEvent):
    """An event whose buckets are worked out once per simulated second.

    Same keys as ``FavoriteEvent.count_keys``; only the repeated date
    formatting is saved, so an hour of 3.6 million events fits the bench budget.
    """

    buckets: tuple[str, ...] = ()

    def count_keys(self) -> list[CountKey]:
        return [(self.restaurant_id, bucket) for bucket in self.buckets]


def hot_bucket_hour(
    shards: int,
    zipf: float | None,
    *,
    per_second: int = 1000,
    seconds: int = 3600,
    batch_size: int = 100,
    restaurants: int = 10_000,
    seed: int = 1,
) -> tuple[int, float]:
    """Max writes any one rank_partition receives in a second, and the mean over partitions.

    Favorites arrive at ``per_second``; the handler gets them in Lambda batches
    of ``batch_size``, plans its chunks and emits its actions; each ``Update``
    carrying a ``rank_partition`` is one write to that GSI partition.
    """
    writer = CountsWriter(
        client=None,  # type: ignore[arg-type]  # actions() never calls the client
        table_name="counts",
        shards=shards,
        day_retention_days=90,
        marker_ttl_seconds=172800,
        budget_seconds=1,
    )
    choose = Chooser(restaurants, zipf, seed)
    start = datetime(2026, 11, 23, tzinfo=UTC)
    peak = 0
    total = 0
    partitions: set[str] = set()
    serial = itertools.count()
    for second in range(seconds):
        created = start + timedelta(seconds=second)
        buckets = buckets_for(created)
        per_partition: Counter[str] = Counter()
        for _ in range(per_second // batch_size):
            events = [
                _SimulatedEvent(
                    event_id=str(n := next(serial)),
                    sequence_number=str(n),
                    restaurant_id=f"r{choose():05d}",
                    user_id=f"u{n}",
                    created_at=created,
                    delta=1,
                    buckets=buckets,
                )
                for _ in range(batch_size)
            ]
            for chunk in plan_chunks(events):
                for action in writer.actions(chunk.events):
                    update = action.get("Update")
                    if update is not None:
                        values: Any = update["ExpressionAttributeValues"]
                        per_partition[str(values[":partition"]["S"])] += 1
        peak = max(peak, *per_partition.values())
        total += sum(per_partition.values())
        partitions |= set(per_partition)
    return peak, total / seconds / max(1, len(partitions))
