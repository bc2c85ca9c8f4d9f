"""One reconciliation run: scan, compare, and when asked, a repair that never races the stream."""

from __future__ import annotations

import time
from collections.abc import Callable

from chalicelib.metrics import MetricSpace
from chalicelib.reconcile.report import ReconcileReport, log
from chalicelib.reconcile.store import Progress, ReconcileStore, no_progress
from chalicelib.reconcile.tally import Drift, Retention, compare, in_scope
from chalicelib.sharding import partition_mismatch


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

    def run(self, *, repair: bool = False, progress: Progress = no_progress) -> ReconcileReport:
        started = time.monotonic()
        report = ReconcileReport()
        # Day buckets that expire before the comparison below are simply not
        # compared: the tally may keep a few more than are checked, never fewer.
        retention = Retention(self._clock(), self._retention)
        # The two scans are not one snapshot: a change the stream applies in
        # between shows as a difference here, which the re-check sees move.
        snapshot = self.store.scan_counts(progress)
        tally = self.store.scan_favorites(progress, retention)
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
        for difference in differences:
            seen, expected = self._recheck(difference)
            if expected - (seen or 0) != difference.difference:
                # It moved: a change the stream had not applied yet (or applied
                # between the scans). Not drift; the next run looks again.
                report.in_flight.append(difference)
                if expected == (seen or 0):
                    report.settled += 1
                continue
            report.drift.append(difference)
            if repair:
                self._repair(difference, seen, expected, report)
        report.seconds = time.monotonic() - started
        log(report, repair=repair, metrics=self._metrics, clock=self._clock)
        return report

    def _recheck(self, drift: Drift) -> tuple[int | None, int]:
        """The count as stored now and the count its favorites give now (both consistent).

        Read, then recount: a change landing between the two makes the
        difference disagree with the scan's, so it is not taken for drift.
        """
        seen = self.store.read_count(drift.restaurant_id, drift.bucket)
        recount = self.store.recount(drift.restaurant_id)
        return seen, recount.counts.get((drift.restaurant_id, drift.bucket), 0)

    def _repair(
        self, drift: Drift, seen: int | None, expected: int, report: ReconcileReport
    ) -> None:
        """Compare-and-add confirmed drift, looking again whenever the count moved under us."""
        for attempt in range(self._max_attempts):
            if attempt:
                seen, expected = self._recheck(drift)
            difference = expected - (seen or 0)
            if difference == 0:
                report.settled += 1  # the stream caught up by itself
                return
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
