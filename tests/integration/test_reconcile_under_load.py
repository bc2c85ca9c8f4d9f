"""A reconciliation that overlaps traffic on DynamoDB Local reports no drift and trips no alarm.

Favorites are added and removed by a writer thread while the real stream
handler counts them from DynamoDB Local's stream in another: the scans see
changes in flight, and only the re-check keeps them from being reported.
"""

from __future__ import annotations

import json
import logging
import random
import threading
import time
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from chalicelib import logs
from chalicelib.favorites import FavoritesStore
from chalicelib.metrics import MetricSpace
from chalicelib.reconcile.reconciler import Reconciler
from chalicelib.reconcile.report import SUMMARY_MESSAGE
from chalicelib.reconcile.store import Progress, ReconcileStore, no_progress
from chalicelib.reconcile.tally import CountsSnapshot
from chalicelib.settings import Settings
from local.processes import wait_until
from local.stream_worker import StreamWorker
from tests.support import COUNTS_TABLE, FAVORITES_TABLE

pytestmark = pytest.mark.integration

RESTAURANTS = [f"load-{n}" for n in range(30)]
USERS = [f"user-{n}" for n in range(20)]
# Favorites written between the scan of the counts and the scan of the
# favorites: the differences a run without the re-check would call drift.
WRITES_BETWEEN_SCANS = 25


class Traffic:
    """A user favoriting and unfavoriting at random, until stopped."""

    def __init__(self, dynamodb: Any) -> None:
        self._store = FavoritesStore(dynamodb, FAVORITES_TABLE)
        self._random = random.Random(19)
        self._held: set[tuple[str, str]] = set()
        self.writes = 0
        self.errors: list[BaseException] = []
        self.stop = threading.Event()
        self._written = threading.Condition()
        self.quiesce: Callable[[], None] = lambda: None

    def seed(self, favorites: int) -> None:
        while len(self._held) < favorites:
            self._toggle(add_only=True)

    def _toggle(self, *, add_only: bool = False) -> None:
        pair = (self._random.choice(USERS), self._random.choice(RESTAURANTS))
        if pair in self._held and not add_only:
            self._store.remove(*pair)
            self._held.discard(pair)
        elif pair not in self._held:
            self._store.add(*pair)
            self._held.add(pair)
        with self._written:
            self.writes += 1
            self._written.notify_all()

    def run(self) -> None:
        try:
            while not self.stop.is_set():
                self._toggle()
                self.stop.wait(0.01)
        except BaseException as error:  # the test asserts there were none
            self.errors.append(error)

    def wait_for(self, writes: int, timeout: float = 30.0) -> None:
        with self._written:
            assert self._written.wait_for(lambda: self.writes >= writes, timeout)


def settle_within_lag(traffic: Traffic, worker: StreamWorker) -> Callable[[float], None]:
    """The reconciler's settle, with its premise made to hold on a busy machine.

    The re-check assumes the stream counts a write within the settle time (in AWS
    the repair gate, ``--max-lag``, refuses to run otherwise). Here the handler runs
    in a thread that a loaded machine can put seconds behind, so the settle also
    waits until every write made before it began has been counted: one stream
    record per write.
    """

    def settle(seconds: float) -> None:
        written = traffic.writes
        time.sleep(seconds)
        wait_until(lambda: worker.stats.records >= written, 60.0, "the stream to count the writes")

    return settle


class OverlappingStore(ReconcileStore):
    """Scans the counts, lets traffic write, then scans the favorites."""

    def __init__(self, traffic: Traffic, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._traffic = traffic

    def scan_counts(self, progress: Progress = no_progress) -> CountsSnapshot:
        snapshot = super().scan_counts(progress)
        self._traffic.wait_for(self._traffic.writes + WRITES_BETWEEN_SCANS)
        return snapshot


class Lines(logging.Handler):
    """The report lines as CloudWatch Logs would receive them (JSON)."""

    def __init__(self) -> None:
        super().__init__()
        self.setFormatter(logs.JsonFormatter("test"))
        self.lines: list[dict[str, Any]] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.lines.append(json.loads(self.format(record)))


@pytest.fixture
def report_lines() -> Iterator[list[dict[str, Any]]]:
    handler = Lines()
    logs.reports.addHandler(handler)
    level = logs.reports.level
    logs.reports.setLevel(logging.INFO)
    yield handler.lines
    logs.reports.removeHandler(handler)
    logs.reports.setLevel(level)


@pytest.fixture
def traffic(dynamodb: Any, worker: StreamWorker) -> Iterator[Traffic]:
    """Seeded favorites, counted; then a writer thread and the stream handler's thread."""
    load = Traffic(dynamodb)
    load.seed(150)
    worker.drain()
    stop_worker = threading.Event()
    threads = [
        threading.Thread(target=load.run, name="favorites-writer"),
        threading.Thread(target=worker.run, args=(stop_worker,), name="stream-worker"),
    ]
    for thread in threads:
        thread.start()

    def quiesce() -> None:
        """Stop writing, then let the stream handler count everything written."""
        load.stop.set()
        stop_worker.set()
        for thread in threads:
            thread.join(timeout=30)
        worker.drain()

    load.quiesce = quiesce
    yield load
    quiesce()
    assert load.errors == []
    assert worker.stats.errors == 0


def emf_summary(lines: list[dict[str, Any]]) -> dict[str, Any]:
    (line,) = [line for line in lines if line["message"] == SUMMARY_MESSAGE]
    (directive,) = line["_aws"]["CloudWatchMetrics"]
    assert {"drift", "misplaced", "in_flight"} <= {m["Name"] for m in directive["Metrics"]}
    return line


def test_a_reconciliation_overlapping_traffic_reports_no_drift_and_no_alarm(
    settings: Settings, dynamodb, worker, traffic, report_lines
):
    store = OverlappingStore(traffic, dynamodb, FAVORITES_TABLE, COUNTS_TABLE, segments=3)
    reconciler = Reconciler(
        store,
        shards=settings.ranking_shards,
        day_retention_days=settings.day_bucket_retention_days,
        metrics=MetricSpace.for_stage("Favorites", "test"),
        sleep=settle_within_lag(traffic, worker),
    )

    report = reconciler.run()  # the daily job's path: report only

    # The scans did see differences: changes in flight, reported apart.
    assert report.in_flight, "the run did not overlap any change"
    assert report.drift == []
    assert report.repaired == []
    line = emf_summary(report_lines)
    assert line["in_flight"] == len(report.in_flight)
    # What the reconcile-drift alarm adds up (FILL(drift, 0) + FILL(misplaced, 0) >= 1).
    assert line["drift"] + line["misplaced"] == 0

    report_lines.clear()
    repaired = reconciler.run(repair=True)
    assert repaired.in_flight
    assert repaired.drift == repaired.repaired == repaired.unsettled == []
    assert emf_summary(report_lines)["drift"] == 0


def test_once_the_traffic_stops_every_count_is_exact(settings: Settings, dynamodb, traffic):
    traffic.wait_for(traffic.writes + 100)
    traffic.quiesce()
    store = ReconcileStore(dynamodb, FAVORITES_TABLE, COUNTS_TABLE, segments=3)
    report = Reconciler(
        store, shards=settings.ranking_shards, day_retention_days=settings.day_bucket_retention_days
    ).run()
    assert (report.drift, report.in_flight) == ([], [])
    assert report.favorites > 0
