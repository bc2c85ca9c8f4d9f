"""The reconciler's pure comparison, and its repair loop against an in-memory store."""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any, cast

from chalicelib.counts import MARKER_PREFIX
from chalicelib.reconcile.reconciler import SETTLE_SECONDS, Reconciler
from chalicelib.reconcile.report import ReconcileReport
from chalicelib.reconcile.tally import (
    CountsSnapshot,
    Drift,
    Retention,
    Tally,
    compare,
    in_scope,
)
from chalicelib.windows import in_retention
from ops.reconcile import exit_status

NOW = datetime(2026, 11, 23, 12, 0, tzinfo=UTC).timestamp()


def favorite(restaurant: str, created: str | None) -> dict[str, Any]:
    item: dict[str, Any] = {"restaurant_id": {"S": restaurant}, "user_id": {"S": "u"}}
    if created is not None:
        item["created_at"] = {"S": created}
    return item


def test_a_tally_counts_each_favorite_in_its_three_buckets():
    tally = Tally()
    tally.add(favorite("r1", "2026-11-23T10:00:00.000Z"))
    tally.add(favorite("r1", "2026-10-31T23:59:59.999Z"))
    other = Tally()
    other.add(favorite("r2", "2026-11-01T00:00:00.000Z"))
    tally.merge(other)
    assert tally.counts == Counter(
        {
            ("r1", "ALL"): 2,
            ("r1", "MONTH#2026-11"): 1,
            ("r1", "DAY#2026-11-23"): 1,
            ("r1", "MONTH#2026-10"): 1,
            ("r1", "DAY#2026-10-31"): 1,
            ("r2", "ALL"): 1,
            ("r2", "MONTH#2026-11"): 1,
            ("r2", "DAY#2026-11-01"): 1,
        }
    )
    assert (tally.favorites, tally.unplaceable) == (3, 0)


def test_favorites_the_stream_cannot_count_are_reported_not_counted():
    tally = Tally()
    tally.add(favorite("r1", None))
    tally.add(favorite("r1", "yesterday"))
    tally.add(favorite("bad id!", "2026-11-23T10:00:00.000Z"))
    assert (tally.favorites, tally.unplaceable, tally.counts) == (3, 3, Counter())


def test_a_snapshot_sets_markers_apart_from_counts():
    snapshot = CountsSnapshot()
    snapshot.add(
        {"restaurant_id": {"S": "r1"}, "bucket": {"S": "ALL"}, "favorite_count": {"N": "4"}}
    )
    snapshot.add({"restaurant_id": {"S": MARKER_PREFIX + "abc"}, "bucket": {"S": "MARKER"}})
    assert (snapshot.counts, snapshot.markers) == ({("r1", "ALL"): 4}, 1)


def test_scope_is_all_every_month_and_days_inside_retention():
    assert in_scope("ALL", NOW, 90)
    assert in_scope("MONTH#2001-01", NOW, 90)
    assert in_scope("DAY#2026-11-23", NOW, 90)
    # The day ends 2026-08-26T00:00Z; 89 days later it is still kept, 90 not.
    assert in_scope("DAY#2026-08-25", NOW, 90)
    assert not in_scope("DAY#2026-08-24", NOW, 90)
    assert not in_scope("DAY#garbage", NOW, 90)
    assert not in_scope("MARKER", NOW, 90)
    # One definition: the stream writer skips exactly the buckets the reconciler skips.
    assert in_scope is in_retention


def test_compare_finds_wrong_missing_and_stray_counts_and_nothing_else():
    truth = {("r1", "ALL"): 3, ("r2", "ALL"): 1, ("r4", "ALL"): 2, ("r5", "DAY#2020-01-01"): 1}
    actual = {
        ("r1", "ALL"): 5,  # wrong
        # r2 missing
        ("r3", "ALL"): 2,  # stray: no favorites
        ("r4", "ALL"): 2,  # right
        ("r6", "MONTH#2026-10"): 0,  # zero and no favorites: fine
        ("r7", "DAY#2020-01-01"): 9,  # expired day: not checked
    }
    assert compare(truth, actual, now=NOW, retention_days=90) == [
        Drift("r1", "ALL", 3, 5),
        Drift("r2", "ALL", 1, None),
        Drift("r3", "ALL", 0, 2),
    ]
    assert [d.difference for d in compare(truth, actual, now=NOW, retention_days=90)] == [-2, 1, -2]
    assert compare(truth, dict(truth), now=NOW, retention_days=90) == []


class MemoryStore:
    """The reconciler's store in memory, with a hook that runs before each write."""

    def __init__(self, favorites: list[dict[str, Any]], counts: dict[tuple[str, str], int]):
        self.favorites = favorites
        self.counts = counts
        self.before_write: list[Any] = []
        self.writes = 0

    def scan_counts(self, progress: Any) -> CountsSnapshot:
        return CountsSnapshot(counts=dict(self.counts))

    def scan_favorites(self, progress: Any, retention: Retention | None = None) -> Tally:
        return self._tally(None, retention)

    def recount(self, restaurant_id: str) -> Tally:
        return self._tally(restaurant_id)

    def _tally(self, restaurant_id: str | None, retention: Retention | None = None) -> Tally:
        tally = Tally(retention=retention)
        for item in self.favorites:
            if restaurant_id in (None, item["restaurant_id"]["S"]):
                tally.add(item)
        return tally

    def read_count(self, restaurant_id: str, bucket: str) -> int | None:
        return self.counts.get((restaurant_id, bucket))

    def compare_and_add(
        self, restaurant_id: str, bucket: str, *, seen: int | None, difference: int, **_: Any
    ) -> bool:
        self.writes += 1
        if self.before_write:
            self.before_write.pop(0)()
        if self.counts.get((restaurant_id, bucket)) != seen:
            return False
        self.counts[(restaurant_id, bucket)] = (seen or 0) + difference
        return True


def reconciler(store: MemoryStore, *, settling: Callable[[], None] | None = None) -> Reconciler:
    """A reconciler on ``store``; its settle time runs ``settling`` (the stream, meanwhile)."""

    def sleep(seconds: float) -> None:
        assert seconds == SETTLE_SECONDS
        if settling is not None:
            settling()

    return Reconciler(
        cast(Any, store), shards=1, day_retention_days=90, clock=lambda: NOW, sleep=sleep
    )


NOV = "2026-11-23T10:00:00.000Z"


def counted(count: int, all_time: int) -> dict[tuple[str, str], int]:
    """r1's counts: ``count`` in November's buckets (right), ``all_time`` in ALL."""
    return {
        ("r1", "ALL"): all_time,
        ("r1", "MONTH#2026-11"): count,
        ("r1", "DAY#2026-11-23"): count,
    }


def test_repair_adds_the_difference_and_a_second_run_is_clean():
    store = MemoryStore(
        [favorite("r1", NOV)] * 2,
        {("r1", "ALL"): 5, ("r1", "MONTH#2026-11"): 2, ("r9", "ALL"): 3},
    )
    report = reconciler(store).run(repair=True)
    assert [(d.restaurant_id, d.bucket) for d in report.repaired] == [
        ("r1", "ALL"),
        ("r1", "DAY#2026-11-23"),
        ("r9", "ALL"),
    ]
    assert store.counts == {
        ("r1", "ALL"): 2,
        ("r1", "MONTH#2026-11"): 2,
        ("r1", "DAY#2026-11-23"): 2,
        ("r9", "ALL"): 0,  # set to zero, not deleted
    }
    assert reconciler(store).run(repair=False).clean


def test_a_count_that_moves_before_the_write_is_looked_at_again_not_clobbered():
    store = MemoryStore([favorite("r1", NOV)] * 3, counted(3, 5))

    def the_stream_applies_a_new_favorite() -> None:
        store.favorites.append(favorite("r1", NOV))
        for key in store.counts:
            store.counts[key] += 1

    store.before_write.append(the_stream_applies_a_new_favorite)
    report = reconciler(store).run(repair=True)
    assert report.repair_retries == 1
    assert store.counts[("r1", "ALL")] == 4  # 6 - 2, not the 3 the scan saw
    assert report.repaired[0] == Drift("r1", "ALL", expected=4, actual=6)


def test_drift_that_changed_since_the_scan_is_left_for_the_next_run():
    store = MemoryStore([favorite("r1", NOV)], counted(1, 3))
    runner = reconciler(store)
    original = store.recount

    def recount(restaurant_id: str) -> Tally:
        # A favorite is added after the scan and the stream has not applied it yet.
        store.favorites.append(favorite("r1", NOV))
        store.recount = original  # type: ignore[method-assign]
        return original(restaurant_id)

    store.recount = recount  # type: ignore[method-assign]
    report = runner.run(repair=True)
    # Not confirmed, so not drift: reported apart, as a change in flight.
    assert report.drift == report.unsettled == []
    assert report.in_flight == [Drift("r1", "ALL", 1, 3)]
    assert store.writes == 0
    assert store.counts[("r1", "ALL")] == 3


def test_repair_gives_up_after_bounded_attempts_when_the_count_keeps_moving():
    store = MemoryStore([favorite("r1", NOV)], counted(1, 3))

    def moving() -> None:
        store.favorites.append(favorite("r1", NOV))
        for key in store.counts:
            store.counts[key] += 1

    store.before_write.extend([moving] * 10)
    report = reconciler(store).run(repair=True)
    assert store.writes == 5
    assert report.repaired == []
    assert report.unsettled == [Drift("r1", "ALL", 1, 3)]
    assert store.counts[("r1", "ALL")] == 8  # only the "stream" ever wrote


def test_a_report_only_run_rechecks_and_reports_only_the_drift_it_confirms():
    # r1's ALL is wrong for good; r2's favorite reaches its count only after the scans.
    store = MemoryStore(
        [favorite("r1", NOV), favorite("r2", NOV)],
        {**counted(1, 3), ("r2", "ALL"): 0, ("r2", "MONTH#2026-11"): 0},
    )
    original = store.recount

    def recount(restaurant_id: str) -> Tally:
        store.counts[("r2", "ALL")] = store.counts[("r2", "MONTH#2026-11")] = 1
        store.counts[("r2", "DAY#2026-11-23")] = 1
        return original(restaurant_id)

    store.recount = recount  # type: ignore[method-assign]
    report = reconciler(store).run()
    assert report.drift == [Drift("r1", "ALL", 1, 3)]
    assert [(d.restaurant_id, d.bucket) for d in report.in_flight] == [
        ("r2", "ALL"),
        ("r2", "DAY#2026-11-23"),
        ("r2", "MONTH#2026-11"),
    ]
    assert report.settled == 3
    assert store.writes == 0  # report-only writes nothing
    summary = report.summary()
    assert (summary["drift"], summary["in_flight"], summary["settled"]) == (1, 3, 3)


def test_a_difference_that_keeps_moving_is_in_flight_not_drift():
    # ALL is one short at the scan (a favorite the stream has not counted yet).
    store = MemoryStore([favorite("r1", NOV)], counted(1, 0))
    original = store.recount

    def recount(restaurant_id: str) -> Tally:
        # Another favorite arrives: the recount sees 2, the count still 1 (in flight).
        store.favorites.append(favorite("r1", NOV))
        return original(restaurant_id)

    store.recount = recount  # type: ignore[method-assign]
    report = reconciler(store).run()
    assert report.drift == []
    assert report.in_flight == [Drift("r1", "ALL", 1, 0)]
    assert report.settled == 0
    assert report.clean


def test_a_tally_given_retention_keeps_only_the_day_buckets_a_run_checks():
    retention = Retention(NOW, 90)
    bounded, unbounded = Tally(retention=retention), Tally()
    # One favorite a day for 400 days: 400 day buckets, 90 of them inside retention.
    start = datetime(2025, 10, 20, 12, tzinfo=UTC).timestamp()
    for day in range(400):
        created = datetime.fromtimestamp(start + day * 86_400, UTC)
        item = favorite("r1", created.strftime("%Y-%m-%dT%H:%M:%S.000Z"))
        bounded.add(item)
        unbounded.add(item)
    days = [b for _, b in unbounded.counts if b.startswith("DAY#")]
    kept = [b for _, b in bounded.counts if b.startswith("DAY#")]
    assert len(days) == 400
    assert sorted(kept) == sorted(b for b in days if in_scope(b, NOW, 90))
    assert 85 <= len(kept) <= 92
    # ALL and the months are kept whole: the same counts either way.
    assert {k: v for k, v in bounded.counts.items() if not k[1].startswith("DAY#")} == {
        k: v for k, v in unbounded.counts.items() if not k[1].startswith("DAY#")
    }
    assert bounded.favorites == unbounded.favorites == 400
    # Exactly the pairs the comparison checks.
    checked = {k for k in unbounded.counts if in_scope(k[1], NOW, 90)}
    assert set(bounded.counts) == checked


def test_a_run_tallies_only_the_buckets_it_checks():
    old = "2026-01-05T10:00:00.000Z"  # its day is long past retention
    store = MemoryStore([favorite("r1", NOV), favorite("r1", old)], {})
    seen: list[Tally] = []
    scan = store.scan_favorites

    def scan_favorites(progress: Any, retention: Retention | None = None) -> Tally:
        seen.append(scan(progress, retention))
        return seen[-1]

    store.scan_favorites = scan_favorites  # type: ignore[method-assign]
    reconciler(store).run()
    assert ("r1", "DAY#2026-01-05") not in seen[0].counts
    assert seen[0].counts[("r1", "MONTH#2026-01")] == 1
    assert seen[0].counts[("r1", "ALL")] == 2


def test_a_change_still_in_flight_at_the_recheck_is_not_taken_for_drift():
    # Two favorites, one counted: the re-check sees the scan's +1 again...
    store = MemoryStore([favorite("r1", NOV)] * 2, counted(1, 1))

    def the_stream_applies_it() -> None:
        # ...but the count moves while the re-check waits: it was in flight.
        for key in store.counts:
            store.counts[key] += 1

    report = reconciler(store, settling=the_stream_applies_it).run(repair=True)
    assert report.drift == report.repaired == report.unsettled == []
    assert len(report.in_flight) == 3
    assert report.settled == 3
    assert store.writes == 0
    assert store.counts == counted(2, 2)


def test_drift_whose_count_stays_still_through_the_settle_time_is_confirmed_and_repaired():
    store = MemoryStore([favorite("r1", NOV)] * 2, counted(1, 1))
    report = reconciler(store).run(repair=True)
    assert [d.difference for d in report.drift] == [1, 1, 1]
    assert [d.difference for d in report.repaired] == [1, 1, 1]
    assert report.in_flight == []
    assert store.counts == counted(2, 2)


def test_the_command_line_fails_only_on_confirmed_drift_left_behind():
    moved = Drift("r1", "ALL", 2, 1)
    in_flight_only = ReconcileReport(in_flight=[moved], settled=1)
    assert exit_status(in_flight_only, repair=False) == 0
    assert exit_status(in_flight_only, repair=True) == 0
    confirmed = ReconcileReport(drift=[moved])
    assert exit_status(confirmed, repair=False) == 1
    # Repaired, or settled by itself before the write: nothing left.
    assert exit_status(ReconcileReport(drift=[moved], repaired=[moved]), repair=True) == 0
    assert exit_status(ReconcileReport(drift=[moved], settled=1), repair=True) == 0
    assert exit_status(ReconcileReport(drift=[moved], unsettled=[moved]), repair=True) == 1
