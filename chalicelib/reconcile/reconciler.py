"""One reconciliation run: scan, compare, and when asked, a repair that never races the stream."""

from __future__ import annotations

import time
from collections.abc import Callable

from chalicelib.metrics import MetricSpace
from chalicelib.reconcile.report import ReconcileReport, log
from chalicelib.reconcile.store import Progress, ReconcileStore, no_progress
from chalicelib.reconcile.tally import Drift, compare, in_scope
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
        log(report, repair=repair, metrics=self._metrics, clock=self._clock)
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
