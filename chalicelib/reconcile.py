"""Recount favorites from the source of truth, report drift per bucket, repair it safely.

The Favorites table is the truth; FavoriteCounts is derived from its stream.
A run scans both tables in parallel segments, tallies what every count should
be (``ALL``, every ``MONTH``, every ``DAY`` still inside retention) and reports
each bucket whose count differs.

Repair never races the stream. Each drifted bucket is checked again just
before writing: a consistent read of the count, and a consistent recount of
that restaurant's favorites. Only drift seen the same by the scan and by the
re-check is repaired (a difference that moved is a stream change in flight,
left for the next run), and it is written as compare-and-add: ``ADD`` the
difference under a condition on the count just read. When the stream moved
the count in between, the condition fails and the bucket is checked again, so
a concurrent +1 is never overwritten. Items that should not exist are set to
zero, not deleted, like the stream leaves them.

The comparison is pure (:class:`Tally`, :func:`compare`); AWS calls live in
:class:`ReconcileStore`, which receives its client and table names.
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
import time
from collections import Counter
from collections.abc import Callable, Iterable, Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass, field
from typing import TYPE_CHECKING, Any, TypeVar

from botocore.exceptions import ClientError

from chalicelib import logs
from chalicelib.counts import MARKER_PREFIX, CountKey, count_item_update
from chalicelib.ids import is_valid_id
from chalicelib.metrics import RECONCILE_METRICS, MetricSpace, embed
from chalicelib.sharding import PartitionMismatch, partition_mismatch
from chalicelib.windows import (
    buckets_for,
    in_retention,
    parse_timestamp,
)

if TYPE_CHECKING:
    from mypy_boto3_dynamodb import DynamoDBClient

logger = logging.getLogger(__name__)
SUMMARY_MESSAGE = "favorite counts reconciled"

Item = Mapping[str, Any]
Progress = Callable[[str, int], None]  # (table being scanned, items in the page just read)
T = TypeVar("T")

# Lines of drift logged per run; the summary line always carries the total.
MAX_LOGGED_DRIFT = 100


def _no_progress(table: str, items: int) -> None:
    pass


# --- pure: what the counts should be, and how they differ -------------------


@dataclass
class Tally:
    """What every count should be, from Favorites items (a segment's, or merged)."""

    counts: Counter[CountKey] = field(default_factory=Counter)
    favorites: int = 0
    # Favorites the stream would not count either (bad id, no usable created_at).
    unplaceable: int = 0

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
        for bucket in buckets_for(created_at):
            self.counts[(restaurant_id, bucket)] += 1

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


# Expired day buckets are TTL's to delete (lazily, so they may linger) and the
# stream writer no longer touches them; neither is drift.
in_scope = in_retention


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


@dataclass
class ReconcileReport:
    favorites: int = 0
    unplaceable_favorites: int = 0
    count_items: int = 0
    markers: int = 0
    buckets_checked: int = 0
    drift: list[Drift] = field(default_factory=list)
    repaired: list[Drift] = field(default_factory=list)
    # Drift that moved between the scan and the re-check: a change in flight.
    unsettled: list[Drift] = field(default_factory=list)
    repair_retries: int = 0
    # Count items outside the partition RANKING_SHARDS puts them in: rankings
    # miss them until `python -m local.reshard` moves them.
    misplaced: list[PartitionMismatch] = field(default_factory=list)
    seconds: float = 0.0

    @property
    def clean(self) -> bool:
        return not self.drift and not self.misplaced

    def summary(self) -> dict[str, Any]:
        return {
            "favorites": self.favorites,
            "unplaceable_favorites": self.unplaceable_favorites,
            "count_items": self.count_items,
            "markers": self.markers,
            "buckets_checked": self.buckets_checked,
            "drift": len(self.drift),
            "repaired": len(self.repaired),
            "unsettled": len(self.unsettled),
            "repair_retries": self.repair_retries,
            "misplaced": len(self.misplaced),
            "seconds": round(self.seconds, 3),
        }


# --- I/O: the two tables ----------------------------------------------------


class ReconcileStore:
    """Scans, consistent reads and compare-and-add writes on the two tables."""

    def __init__(
        self,
        client: DynamoDBClient,
        favorites_table: str,
        counts_table: str,
        *,
        segments: int,
    ) -> None:
        self._client = client
        self.favorites_table = favorites_table
        self.counts_table = counts_table
        self._segments = segments

    @property
    def tables(self) -> tuple[str, str]:
        return (self.counts_table, self.favorites_table)

    def _scan(
        self,
        table: str,
        projection: str,
        fresh: Callable[[], T],
        add: Callable[[T, Item], None],
        progress: Progress,
    ) -> list[T]:
        """A parallel scan: one thread per segment, each folding its pages into ``fresh()``."""

        def segment(number: int) -> T:
            folded = fresh()
            args: dict[str, Any] = {
                "TableName": table,
                "Segment": number,
                "TotalSegments": self._segments,
                "ProjectionExpression": projection,
                "ExpressionAttributeNames": {"#b": "bucket"} if "#b" in projection else None,
                # The stream and the repair rely on what was read being current.
                "ConsistentRead": True,
            }
            if args["ExpressionAttributeNames"] is None:
                del args["ExpressionAttributeNames"]
            while True:
                page = self._client.scan(**args)
                items = page.get("Items", [])
                for item in items:
                    add(folded, item)
                progress(table, len(items))
                if "LastEvaluatedKey" not in page:
                    return folded
                args["ExclusiveStartKey"] = page["LastEvaluatedKey"]

        with ThreadPoolExecutor(self._segments, thread_name_prefix="reconcile-scan") as pool:
            return list(pool.map(segment, range(self._segments)))

    def scan_favorites(self, progress: Progress = _no_progress) -> Tally:
        parts = self._scan(
            self.favorites_table, "restaurant_id, created_at", Tally, Tally.add, progress
        )
        return _merge(parts, Tally(), Tally.merge)

    def scan_counts(self, progress: Progress = _no_progress) -> CountsSnapshot:
        parts = self._scan(
            self.counts_table,
            # "bucket" is a DynamoDB reserved word.
            "restaurant_id, #b, favorite_count, rank_partition",
            CountsSnapshot,
            CountsSnapshot.add,
            progress,
        )
        return _merge(parts, CountsSnapshot(), CountsSnapshot.merge)

    def recount(self, restaurant_id: str) -> Tally:
        """One restaurant's favorites, counted now (a consistent query of its partition)."""
        tally = Tally()
        args: dict[str, Any] = {
            "TableName": self.favorites_table,
            "KeyConditionExpression": "restaurant_id = :r",
            "ExpressionAttributeValues": {":r": {"S": restaurant_id}},
            "ProjectionExpression": "restaurant_id, created_at",
            "ConsistentRead": True,
        }
        while True:
            page = self._client.query(**args)
            for item in page.get("Items", []):
                tally.add(item)
            if "LastEvaluatedKey" not in page:
                return tally
            args["ExclusiveStartKey"] = page["LastEvaluatedKey"]

    def read_count(self, restaurant_id: str, bucket: str) -> int | None:
        """The count as stored now; ``None`` when there is no count."""
        item = self._client.get_item(
            TableName=self.counts_table,
            Key={"restaurant_id": {"S": restaurant_id}, "bucket": {"S": bucket}},
            ProjectionExpression="favorite_count",
            ConsistentRead=True,
        ).get("Item")
        if not item or "favorite_count" not in item:
            return None
        return int(item["favorite_count"]["N"])

    def compare_and_add(
        self,
        restaurant_id: str,
        bucket: str,
        *,
        seen: int | None,
        difference: int,
        now: float,
        shards: int,
        day_retention_days: int,
    ) -> bool:
        """Add ``difference`` if the count is still ``seen``; ``False`` when it moved."""
        update, values = count_item_update(
            restaurant_id, bucket, now=now, shards=shards, day_retention_days=day_retention_days
        )
        values[":delta"] = {"N": str(difference)}
        if seen is None:
            condition = "attribute_not_exists(favorite_count)"
        else:
            condition = "favorite_count = :seen"
            values[":seen"] = {"N": str(seen)}
        try:
            self._client.update_item(
                TableName=self.counts_table,
                Key={"restaurant_id": {"S": restaurant_id}, "bucket": {"S": bucket}},
                UpdateExpression=update,
                ConditionExpression=condition,
                ExpressionAttributeValues=values,
            )
        except ClientError as error:
            if error.response.get("Error", {}).get("Code") == "ConditionalCheckFailedException":
                return False
            raise
        return True


def _merge(parts: Iterable[T], start: T, merge: Callable[[T, T], T]) -> T:
    for part in parts:
        start = merge(start, part)
    return start


# --- the run ----------------------------------------------------------------


class Reconciler:
    def __init__(
        self,
        store: ReconcileStore,
        *,
        shards: int,
        day_retention_days: int,
        clock: Callable[[], float] = time.time,
        max_attempts: int = 5,
        metrics: MetricSpace | None = None,
    ) -> None:
        self.store = store
        self._shards = shards
        self._retention = day_retention_days
        self._clock = clock
        self._max_attempts = max_attempts
        # Where the run's summary line publishes drift as metrics (EMF); None: no metrics.
        self._metrics = metrics

    def run(self, *, repair: bool = False, progress: Progress = _no_progress) -> ReconcileReport:
        started = time.monotonic()
        report = ReconcileReport()
        # The two scans are not one snapshot: a change the stream applies in
        # between shows as drift here, and the repair's re-check sees it settled.
        snapshot = self.store.scan_counts(progress)
        tally = self.store.scan_favorites(progress)
        now = self._clock()
        report.favorites = tally.favorites
        report.unplaceable_favorites = tally.unplaceable
        report.count_items = len(snapshot.counts)
        report.markers = snapshot.markers
        report.buckets_checked = sum(
            1
            for _, bucket in set(tally.counts) | set(snapshot.counts)
            if in_scope(bucket, now, self._retention)
        )
        report.drift = compare(
            tally.counts, snapshot.counts, now=now, retention_days=self._retention
        )
        report.misplaced = [
            mismatch
            for (restaurant_id, bucket), partition in snapshot.partitions.items()
            if (mismatch := partition_mismatch(restaurant_id, bucket, partition, self._shards))
        ]
        if repair:
            for drift in report.drift:
                self._repair(drift, report)
        report.seconds = time.monotonic() - started
        self._log(report, repair)
        return report

    def _repair(self, drift: Drift, report: ReconcileReport) -> None:
        for _ in range(self._max_attempts):
            # Read, then recount: a change landing between the two makes the
            # difference disagree with the scan's, and the bucket is left alone.
            seen = self.store.read_count(drift.restaurant_id, drift.bucket)
            recount = self.store.recount(drift.restaurant_id)
            expected = recount.counts.get((drift.restaurant_id, drift.bucket), 0)
            difference = expected - (seen or 0)
            if difference == 0:
                return  # settled by itself (the stream caught up)
            if difference != drift.difference:
                report.unsettled.append(drift)
                return
            written = self.store.compare_and_add(
                drift.restaurant_id,
                drift.bucket,
                seen=seen,
                difference=difference,
                now=self._clock(),
                shards=self._shards,
                day_retention_days=self._retention,
            )
            if written:
                report.repaired.append(Drift(drift.restaurant_id, drift.bucket, expected, seen))
                return
            report.repair_retries += 1  # the count moved under us: look again
        report.unsettled.append(drift)

    def _log(self, report: ReconcileReport, repair: bool) -> None:
        for drift in report.drift[:MAX_LOGGED_DRIFT]:
            logger.warning("count drift", extra={"fields": asdict(drift)})
        for mismatch in report.misplaced[:MAX_LOGGED_DRIFT]:
            logger.warning(
                "count in the wrong ranking partition", extra={"fields": asdict(mismatch)}
            )
        fields: dict[str, Any] = {"repair": repair, **report.summary()}
        if self._metrics is not None:
            fields = embed(fields, self._metrics, RECONCILE_METRICS, self._clock())
        (logs.reports.info if report.clean else logs.reports.warning)(
            SUMMARY_MESSAGE, extra={"fields": fields}
        )


# --- command line -----------------------------------------------------------


def main(argv: list[str] | None = None, progress: Progress | None = None) -> int:
    """Reconcile the tables the environment names (``chalicelib.settings``).

    Exit status: 0 when no drift remains, 1 when drift was found and left.
    """
    from chalicelib import services  # noqa: PLC0415 (services builds clients on first use)

    parser = argparse.ArgumentParser(
        prog="python -m chalicelib.reconcile",
        description="Recount favorite counts from the favorites table; report (and repair) drift.",
    )
    parser.add_argument("--repair", action="store_true", help="repair drift (compare-and-add)")
    args = parser.parse_args(argv)
    report = services.reconciler().run(repair=args.repair, progress=progress or _no_progress)
    for drift in report.drift:
        print(json.dumps(asdict(drift)))
    print(json.dumps(report.summary()), file=sys.stderr)
    left = len(report.drift) - len(report.repaired) if args.repair else len(report.drift)
    return 1 if left else 0


if __name__ == "__main__":
    raise SystemExit(main())
