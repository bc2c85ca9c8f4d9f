"""The status file's lag under a steady load: within a second of the delay measured from outside.

``ops.reconcile --repair`` trusts it to tell a caught-up stream from one with
changes in flight, so it must follow the real favorite-to-count delay, with
removals in the mix (their records carry no time of their own locally).
"""

from __future__ import annotations

import threading
import time
import uuid

import boto3
import pytest

from local import status
from tests.stack.conftest import Stack, post

pytestmark = pytest.mark.integration

FAVORITE = 'mutation { favorite(restaurantId: "%s") { changed } }'
UNFAVORITE = 'mutation { unfavorite(restaurantId: "%s") { changed } }'
WRITES_PER_SECOND = 8
TICKS = 48  # six seconds


class Probe:
    """Writes favorites and removals at a steady rate through the API, and times each
    one from the API's answer to its count (consistent reads, every 20 ms); meanwhile
    reads the status file's lag."""

    def __init__(self, stack: Stack) -> None:
        running = status.read(stack.data_dir)
        assert running is not None
        self._stack = stack
        self._client = boto3.client(
            "dynamodb",
            endpoint_url=running["dynamodb"],
            region_name="us-east-1",
            aws_access_key_id="local",
            aws_secret_access_key="local",
        )
        self._counts_table = running["tables"]["counts"]
        self._prefix = f"lag-{uuid.uuid4().hex[:6]}"
        # (restaurant, count its ALL bucket must reach, when the API answered).
        self.pending: list[tuple[str, int, float]] = []
        self.delays: list[float] = []
        self.lags: list[float] = []
        self._lock = threading.Lock()
        self.stop = threading.Event()

    def _change(self, mutation: str, restaurant: str, target: int) -> None:
        post(f"{self._stack.api}/graphql", mutation % restaurant, "lag-fan")
        with self._lock:
            self.pending.append((restaurant, target, time.monotonic()))

    def write(self) -> None:
        """Favorite a new restaurant each tick; unfavorite the one of three ticks before."""
        interval = 1.0 / WRITES_PER_SECOND
        for tick in range(TICKS):
            started = time.monotonic()
            self._change(FAVORITE, f"{self._prefix}-{tick}", 1)
            if tick >= 3:
                self._change(UNFAVORITE, f"{self._prefix}-{tick - 3}", 0)
            time.sleep(max(0.0, interval - (time.monotonic() - started)))

    def _count(self, restaurant: str) -> int | None:
        item = self._client.get_item(
            TableName=self._counts_table,
            Key={"restaurant_id": {"S": restaurant}, "bucket": {"S": "ALL"}},
            ConsistentRead=True,
        ).get("Item")
        return int(item["favorite_count"]["N"]) if item else None

    def watch_counts(self) -> None:
        while not self.stop.is_set() or self.pending:
            with self._lock:
                watching = list(self.pending)
            for change in watching:
                restaurant, target, written = change
                if self._count(restaurant) == target:  # a removal's item stays, at 0
                    self.delays.append(time.monotonic() - written)
                    with self._lock:
                        self.pending.remove(change)
            time.sleep(0.02)

    def watch_lag(self) -> None:
        while not self.stop.is_set():
            running = status.read(self._stack.data_dir)
            if running is not None:
                self.lags.append(float(running["worker"].get("lag_seconds") or 0.0))
            time.sleep(0.05)


def test_the_status_files_lag_follows_the_measured_favorite_to_count_delay(stack: Stack):
    probe = Probe(stack)
    watchers = [
        threading.Thread(target=probe.watch_counts),
        threading.Thread(target=probe.watch_lag),
    ]
    for thread in watchers:
        thread.start()
    try:
        probe.write()
        deadline = time.monotonic() + 15
        while probe.pending and time.monotonic() < deadline:
            time.sleep(0.05)
    finally:
        probe.stop.set()
        for thread in watchers:
            thread.join(timeout=30)
    assert not probe.pending, f"changes never counted: {probe.pending[:5]}"
    assert len(probe.delays) == TICKS * 2 - 3
    measured = max(probe.delays)
    assert measured < 5.0  # the freshness bound: a stalled worker is another test's failure
    assert probe.lags, "no status file read"
    # Every reading is the age of a record still waiting: never a second beyond the
    # longest wait measured from outside (a minute-stamped removal read up to 59 s).
    assert max(probe.lags) <= measured + 1.0, (max(probe.lags), sorted(probe.delays)[-5:])
    assert max(probe.lags) >= measured - 1.0, (max(probe.lags), measured)
