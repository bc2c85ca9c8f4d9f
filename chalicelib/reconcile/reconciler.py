"""One reconciliation run: scan, compare, and when asked, a repair that never races the stream."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass

from chalicelib.metrics import MetricSpace
from chalicelib.reconcile.report import ReconcileReport, log
from chalicelib.reconcile.store import Progress, ReconcileStore, no_progress
from chalicelib.reconcile.tally import Drift, Retention, Tally, compare, in_scope
from chalicelib.sharding import partition_mismatch

# How long a re-check watches a count for the stream to move it. A change that
# was in flight when the count was read lands within the stream's lag; the
# repair gate allows 5 s of lag (ops/reconcile.py --max-lag), so the same here.
SETTLE_SECONDS = 5.0


@dataclass(frozen=True)
class Recheck:
    """A bucket looked at again: its count read, its restaurant recounted, its count read again.

    The count read a settle time after the recount tells whether the stream
    was still moving it: anything written before the recount that the first
    read missed lands within the stream's lag, so an unchanged count means the
    difference between the recount and the count is not a change in flight.
    """

    seen: int | None
    expected: int
    seen_again: int | None

    @property
    def moving(self) -> bool:
        return (self.seen or 0) != (self.seen_again or 0)

    @property
    def difference(self) -> int:
        return self.expected - (self.seen or 0)

    @property
    def settled(self) -> bool:
        """The count caught up with the recount by itself."""
        return self.expected == (self.seen_again or 0)


class Reconciler:
    def __init__(
        self,
        store: ReconcileStore,
        *,
        shards: int,
        day_retention_days: int,
        clock: Callable[[], float] = time.time,
        sleep: Callable[[float], None] = time.sleep,
        settle_seconds: float = SETTLE_SECONDS,
        max_attempts: int = 5,
        metrics: MetricSpace | None = None,
    ) -> None:
        self.store = store
        self._shards = shards
        self._retention = day_retention_days
        self._clock = clock
        self._sleep = sleep
        self._settle = settle_seconds
        self._max_attempts = max_attempts
        # Where the run's summary line publishes drift as metrics (EMF); None: no metrics.
        self._metrics = metrics

    def run(
        self,
        *,
        repair: bool = False,
        progress: Progress = no_progress,
        truth: Callable[[Retention], Tally] | None = None,
    ) -> ReconcileReport:
        """Compare, re-check and (with ``repair``) repair the counts.

        ``truth`` computes the expected counts in place of the favorites scan
        (the export's SQL recount, ``ops/recount``); the re-check and the
        repair read the tables as ever.
        """
        started = time.monotonic()
        report = ReconcileReport()
        # Day buckets that expire before the comparison below are simply not
        # compared: the tally may keep a few more than are checked, never fewer.
        retention = Retention(self._clock(), self._retention)
        # The two scans are not one snapshot: a change the stream applies in
        # between shows as a difference here, which the re-check sees move.
        snapshot = self.store.scan_counts(progress)
        tally = (
            self.store.scan_favorites(progress, retention) if truth is None else truth(retention)
        )
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
        differences = compare(
            tally.counts, snapshot.counts, now=now, retention_days=self._retention
        )
        report.misplaced = [
            mismatch
            for (restaurant_id, bucket), partition in snapshot.partitions.items()
            if (mismatch := partition_mismatch(restaurant_id, bucket, partition, self._shards))
        ]
        for difference, recheck in zip(differences, self._recheck(differences), strict=True):
            if recheck.moving or recheck.difference != difference.difference:
                # A change the stream had not applied yet, or applied between the
                # scans: not drift. The next run looks again.
                report.in_flight.append(difference)
                report.settled += recheck.settled
                continue
            report.drift.append(difference)
            if repair:
                self._repair(difference, recheck, report)
        report.seconds = time.monotonic() - started
        log(report, repair=repair, metrics=self._metrics, clock=self._clock)
        return report

    def _recheck(self, buckets: list[Drift]) -> list[Recheck]:
        """Each bucket's :class:`Recheck` (consistent reads and recounts), with one
        settle time for them all.

        Per restaurant: its counts are read, then its favorites recounted (once
        for all its buckets), so a change landing in between shows as a count
        that moves by the second read.
        """
        if not buckets:
            return []
        first: dict[tuple[str, str], int | None] = {}
        expected: dict[tuple[str, str], int] = {}
        by_restaurant: dict[str, list[str]] = {}
        for drift in buckets:
            by_restaurant.setdefault(drift.restaurant_id, []).append(drift.bucket)
        for restaurant_id, restaurant_buckets in by_restaurant.items():
            for bucket in restaurant_buckets:
                first[(restaurant_id, bucket)] = self.store.read_count(restaurant_id, bucket)
            recount = self.store.recount(restaurant_id)
            for bucket in restaurant_buckets:
                expected[(restaurant_id, bucket)] = recount.counts.get((restaurant_id, bucket), 0)
        self._sleep(self._settle)
        return [
            Recheck(
                first[(d.restaurant_id, d.bucket)],
                expected[(d.restaurant_id, d.bucket)],
                self.store.read_count(d.restaurant_id, d.bucket),
            )
            for d in buckets
        ]

    def _repair(self, drift: Drift, recheck: Recheck, report: ReconcileReport) -> None:
        """Compare-and-add confirmed drift, looking again whenever the count moved under us."""
        for attempt in range(self._max_attempts):
            if attempt:
                (recheck,) = self._recheck([drift])
            difference = recheck.difference
            if recheck.settled:
                report.settled += 1  # the stream caught up by itself
                return
            if recheck.moving or difference != drift.difference:
                report.unsettled.append(drift)
                return
            written = self.store.compare_and_add(
                drift.restaurant_id,
                drift.bucket,
                seen=recheck.seen_again,
                difference=difference,
                now=self._clock(),
                shards=self._shards,
                day_retention_days=self._retention,
            )
            if written:
                report.repaired.append(
                    Drift(drift.restaurant_id, drift.bucket, recheck.expected, recheck.seen_again)
                )
                return
            report.repair_retries += 1  # the count moved under us: look again
        report.unsettled.append(drift)
