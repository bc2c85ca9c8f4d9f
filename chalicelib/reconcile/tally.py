"""Pure: what every count should be, from the Favorites items, and how the counts differ."""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from chalicelib.counts import MARKER_PREFIX, CountKey
from chalicelib.ids import is_valid_id
from chalicelib.windows import buckets_for, in_retention, parse_timestamp

Item = Mapping[str, Any]

# Expired day buckets are TTL's to delete (lazily, so they may linger) and the
# stream writer no longer touches them; neither is drift.
in_scope = in_retention


@dataclass
class Retention:
    """Which day buckets a run checks: those still inside retention at ``now``.

    Remembers its answer per day, so a scan asks the calendar once a day
    bucket, not once a favorite; segments share one (a dict write is atomic).
    """

    now: float
    days: int
    _kept: dict[str, bool] = field(default_factory=dict)

    def keeps(self, bucket: str) -> bool:
        kept = self._kept.get(bucket)
        if kept is None:
            kept = self._kept[bucket] = in_scope(bucket, self.now, self.days)
        return kept


@dataclass
class Tally:
    """What every count should be, from Favorites items (a segment's, or merged).

    Given a ``retention``, it keeps only the day buckets a run checks (ALL and
    the months always): its memory follows the (restaurant, bucket) pairs
    checked, not every day of history.
    """

    counts: Counter[CountKey] = field(default_factory=Counter)
    favorites: int = 0
    # Favorites the stream would not count either (bad id, no usable created_at).
    unplaceable: int = 0
    retention: Retention | None = None

    def add(self, item: Item) -> None:
        self.favorites += 1
        restaurant_id = item.get("restaurant_id", {}).get("S")
        created = item.get("created_at", {}).get("S")
        try:
            created_at = parse_timestamp(created)
        except ValueError:
            self.unplaceable += 1
            return
        if not is_valid_id(restaurant_id):
            self.unplaceable += 1
            return
        all_time, month, day = buckets_for(created_at)
        counts = self.counts
        counts[(restaurant_id, all_time)] += 1
        counts[(restaurant_id, month)] += 1
        if self.retention is None or self.retention.keeps(day):
            counts[(restaurant_id, day)] += 1

    def merge(self, other: Tally) -> Tally:
        self.counts.update(other.counts)
        self.favorites += other.favorites
        self.unplaceable += other.unplaceable
        return self


@dataclass
class CountsSnapshot:
    """The FavoriteCounts table as scanned: counts by key, markers set apart."""

    counts: dict[CountKey, int] = field(default_factory=dict)
    # Where each count item sits in the ranking index (None: not indexed).
    partitions: dict[CountKey, str | None] = field(default_factory=dict)
    markers: int = 0

    def add(self, item: Item) -> None:
        restaurant_id = item["restaurant_id"]["S"]
        if restaurant_id.startswith(MARKER_PREFIX):
            self.markers += 1  # an idempotency marker, not a count
            return
        count = item.get("favorite_count", {}).get("N")
        key = (restaurant_id, item["bucket"]["S"])
        self.counts[key] = int(count) if count else 0
        self.partitions[key] = item.get("rank_partition", {}).get("S")

    def merge(self, other: CountsSnapshot) -> CountsSnapshot:
        self.counts.update(other.counts)
        self.partitions.update(other.partitions)
        self.markers += other.markers
        return self


@dataclass(frozen=True)
class Drift:
    """One bucket whose count differs from the favorites that exist."""

    restaurant_id: str
    bucket: str
    expected: int
    actual: int | None  # None: there is no count item

    @property
    def difference(self) -> int:
        return self.expected - (self.actual or 0)


def compare(
    truth: Mapping[CountKey, int],
    actual: Mapping[CountKey, int],
    *,
    now: float,
    retention_days: int,
) -> list[Drift]:
    """Every in-scope bucket whose count differs from the truth, sorted by key.

    A missing item and an item at zero both mean "no favorites"; anything else
    that differs is drift, including items that should not exist.
    """
    drift = []
    for key in sorted(set(truth) | set(actual)):
        restaurant_id, bucket = key
        if not in_scope(bucket, now, retention_days):
            continue
        expected = truth.get(key, 0)
        if expected != actual.get(key, 0):
            drift.append(Drift(restaurant_id, bucket, expected, actual.get(key)))
    return drift
