"""The reconciler on DynamoDB Local: drift injected by hand is found exactly, repaired safely."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from chalicelib.counts import MARKER_PREFIX
from chalicelib.favorites import FavoritesStore
from chalicelib.reconcile.reconciler import Reconciler
from chalicelib.reconcile.store import ReconcileStore
from chalicelib.reconcile.tally import Drift
from tests.support import COUNTS_TABLE, FAVORITES_TABLE

pytestmark = pytest.mark.integration

NOW = datetime.now(UTC).replace(microsecond=0)
EARLIER = NOW - timedelta(days=40)
TODAY = f"DAY#{NOW:%Y-%m-%d}"
THIS_MONTH = f"MONTH#{NOW:%Y-%m}"


def add(dynamodb: Any, restaurant: str, user: str, at: datetime = NOW) -> None:
    FavoritesStore(dynamodb, FAVORITES_TABLE, clock=lambda: at).add(user, restaurant)


def key(restaurant: str, bucket: str) -> dict[str, Any]:
    return {"restaurant_id": {"S": restaurant}, "bucket": {"S": bucket}}


def item(dynamodb: Any, restaurant: str, bucket: str) -> dict[str, Any] | None:
    found: dict[str, Any] = dynamodb.get_item(TableName=COUNTS_TABLE, Key=key(restaurant, bucket))
    return found.get("Item")


def count(dynamodb: Any, restaurant: str, bucket: str) -> int | None:
    found = item(dynamodb, restaurant, bucket)
    return int(found["favorite_count"]["N"]) if found else None


def set_count(dynamodb: Any, restaurant: str, bucket: str, value: int) -> None:
    dynamodb.update_item(
        TableName=COUNTS_TABLE,
        Key=key(restaurant, bucket),
        UpdateExpression="SET favorite_count = :v",
        ExpressionAttributeValues={":v": {"N": str(value)}},
    )


@pytest.fixture
def counted(dynamodb, worker) -> Any:
    """Favorites counted by the real stream handler; no drift yet."""
    for user in ("u1", "u2", "u3"):
        add(dynamodb, "sushi", user)
    add(dynamodb, "tacos", "u1")
    add(dynamodb, "tacos", "u2", EARLIER)
    assert worker.drain() == 5
    return dynamodb


def test_no_drift_after_the_stream_and_markers_are_not_counts(counted, reconciler):
    report = reconciler.run()
    assert report.drift == []
    assert (report.favorites, report.markers) == (5, 5)
    # sushi: ALL, this month, today; tacos: the same plus the month and day 40 days ago.
    assert report.buckets_checked == 8


def test_drift_injected_by_hand_is_reported_exactly_then_repaired(counted, reconciler):
    set_count(counted, "sushi", "ALL", 7)  # wrong
    counted.delete_item(TableName=COUNTS_TABLE, Key=key("tacos", TODAY))  # missing
    set_count(counted, "ghost", TODAY, 4)  # should not exist
    set_count(counted, "ghost", "DAY#2001-01-01", 9)  # long expired: not checked

    report = reconciler.run()
    assert sorted(report.drift, key=lambda d: (d.restaurant_id, d.bucket)) == [
        Drift("ghost", TODAY, 0, 4),
        Drift("sushi", "ALL", 3, 7),
        Drift("tacos", TODAY, 1, None),
    ]
    assert report.repaired == []
    assert count(counted, "sushi", "ALL") == 7  # report-only writes nothing

    repaired = reconciler.run(repair=True)
    assert len(repaired.repaired) == 3
    assert repaired.unsettled == []
    assert count(counted, "sushi", "ALL") == 3
    assert count(counted, "tacos", TODAY) == 1
    ghost = item(counted, "ghost", TODAY)
    assert ghost is not None  # set to zero, not deleted
    assert ghost["favorite_count"] == {"N": "0"}
    # Repaired items carry the attributes the stream writer gives them.
    recreated = item(counted, "tacos", TODAY)
    assert recreated is not None
    assert recreated["rank_partition"] == {"S": f"{TODAY}#0"}
    assert recreated["updated_at"]["S"].endswith("Z")
    assert int(recreated["expires_at"]["N"]) > NOW.timestamp()
    assert count(counted, "ghost", "DAY#2001-01-01") == 9
    assert reconciler.run().drift == []


class RacingClient:
    """Runs ``race`` once, just before the reconciler's first write."""

    def __init__(self, real: Any, race: Any) -> None:
        self._real = real
        self._race = race
        self.writes = 0

    def __getattr__(self, name: str) -> Any:
        return getattr(self._real, name)

    def update_item(self, **kwargs: Any) -> Any:
        self.writes += 1
        if self.writes == 1:
            self._race()
        return self._real.update_item(**kwargs)


def test_a_stream_change_between_read_and_repair_is_retried_not_clobbered(counted, worker):
    set_count(counted, "sushi", "ALL", 10)  # truth: 3

    def a_new_favorite_lands() -> None:
        add(counted, "sushi", "u4")
        assert worker.drain() == 1  # the real handler counts it: 11

    racing = RacingClient(counted, a_new_favorite_lands)
    store = ReconcileStore(racing, FAVORITES_TABLE, COUNTS_TABLE, segments=2)  # type: ignore[arg-type]
    report = Reconciler(store, shards=1, day_retention_days=90).run(repair=True)
    assert report.drift == [Drift("sushi", "ALL", 3, 10)]
    assert report.repair_retries == 1
    assert report.repaired == [Drift("sushi", "ALL", 4, 11)]
    assert count(counted, "sushi", "ALL") == 4  # 11 - 7: the new favorite kept
    assert count(counted, "sushi", THIS_MONTH) == 4
    assert racing.writes == 2


def test_the_scan_reads_every_segment(dynamodb, worker, reconciler):
    for n in range(120):
        add(dynamodb, f"s{n % 30:02d}", f"u{n}")
    worker.drain()
    set_count(dynamodb, "s07", "ALL", 0)
    report = reconciler.run()
    assert report.favorites == 120
    assert report.markers == 120
    assert report.drift == [Drift("s07", "ALL", 4, 0)]
    # Markers for every event are there, and none of them was mistaken for a count.
    assert not any(d.restaurant_id.startswith(MARKER_PREFIX) for d in report.drift)
