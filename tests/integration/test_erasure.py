"""Erasure on DynamoDB Local: the queue's function while the user keeps favoriting,
the real stream handler counting, and the reconciler finding no drift afterwards;
and the rate at which a user with 10,000 favorites is erased."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from chalicelib.erasure import ErasureStore, erase
from chalicelib.favorites import FavoritesStore
from infra.stages import stage
from tests.support import COUNTS_TABLE, FAVORITES_TABLE

pytestmark = pytest.mark.integration

NOW = datetime.now(UTC).replace(microsecond=0)


def add(dynamodb: Any, restaurant: str, user: str, at: datetime = NOW) -> None:
    FavoritesStore(dynamodb, FAVORITES_TABLE, clock=lambda: at).add(user, restaurant)


def favorites_of(dynamodb: Any, user: str) -> set[str]:
    found: set[str] = set()
    request: dict[str, Any] = {"TableName": FAVORITES_TABLE, "ConsistentRead": True}
    while True:
        page = dynamodb.scan(**request)
        found |= {i["restaurant_id"]["S"] for i in page["Items"] if i["user_id"]["S"] == user}
        if "LastEvaluatedKey" not in page:
            return found
        request["ExclusiveStartKey"] = page["LastEvaluatedKey"]


def all_time_count(dynamodb: Any, restaurant: str) -> int:
    key = {"restaurant_id": {"S": restaurant}, "bucket": {"S": "ALL"}}
    item = dynamodb.get_item(TableName=COUNTS_TABLE, Key=key, ConsistentRead=True).get("Item")
    return int(item["favorite_count"]["N"]) if item else 0


class FavoritingMeanwhile:
    """The real client, but every few deletes the user favorites again (new
    restaurants and ones already erased) and the stream handler catches up."""

    def __init__(self, real: Any, during: Callable[[int], None]) -> None:
        self._real = real
        self._during = during
        self.deletes = 0
        # The erasure deletes from several threads; the user and the stream go one at a time.
        self._lock = threading.Lock()

    def __getattr__(self, name: str) -> Any:
        return getattr(self._real, name)

    def delete_item(self, **kwargs: Any) -> Any:
        with self._lock:
            self.deletes += 1
            self._during(self.deletes)
        return self._real.delete_item(**kwargs)


def test_an_erasure_while_the_user_favorites_leaves_nothing_and_no_drift(
    client, dynamodb, worker, reconciler, *, serve, monkeypatch
):
    services = serve(ERASURE_SETTLE_MS="300")
    # u1 favorited 150 restaurants over the last 60 days; u2 and u3 share some.
    for n in range(150):
        add(dynamodb, f"r{n:03d}", "u1", NOW - timedelta(days=n % 60, hours=n % 24))
    for n in range(0, 150, 3):
        add(dynamodb, f"r{n:03d}", "u2", NOW - timedelta(days=n % 45))
    for n in range(0, 150, 10):
        add(dynamodb, f"r{n:03d}", "u3")
    worker.drain()
    assert reconciler.run().drift == []
    others = {f"r{n:03d}": all_time_count(dynamodb, f"r{n:03d}") - 1 for n in range(150)}

    meanwhile: list[str] = []

    def favorite_and_count(deletes: int) -> None:
        if deletes % 5 == 0 and len(meanwhile) < 30:
            # Half new restaurants, half ones this erasure may already have deleted.
            restaurant = f"new{deletes:03d}" if deletes % 10 else f"r{deletes % 150:03d}"
            add(dynamodb, restaurant, "u1", datetime.now(UTC))
            meanwhile.append(restaurant)
        if deletes % 25 == 0:
            worker.drain()

    racing = FavoritingMeanwhile(dynamodb, favorite_and_count)
    store = ErasureStore(racing, FAVORITES_TABLE)  # type: ignore[arg-type]
    monkeypatch.setattr(services, "eraser", lambda: store)

    event = client.events.generate_sqs_event(message_bodies=['{"user_id": "u1"}'])
    # SQS hands a message reported failed (out of the invocation's time) over
    # again; the test client's invocations are 3 s long, so this may take several.
    for _receive in range(10):
        answer = client.lambda_.invoke("erase_favorites", event)
        if answer.payload == {"batchItemFailures": []}:
            break
    else:
        pytest.fail("the erasure did not finish in 10 receives")
    assert len(meanwhile) == 30
    assert favorites_of(dynamodb, "u1") == set()
    assert favorites_of(dynamodb, "u2") == {f"r{n:03d}" for n in range(0, 150, 3)}

    worker.drain()
    report = reconciler.run()
    assert report.drift == []
    # Every count lost exactly u1's favorite: what the other users give it.
    for restaurant, count in others.items():
        assert all_time_count(dynamodb, restaurant) == count, restaurant
    for restaurant in {r for r in meanwhile if r.startswith("new")}:
        assert all_time_count(dynamodb, restaurant) == 0, restaurant


def test_a_user_with_ten_thousand_favorites_is_erased_within_one_invocation(dynamodb):
    favorites = 10_000
    created = NOW - timedelta(days=1)
    items = [
        {
            "PutRequest": {
                "Item": {
                    "restaurant_id": {"S": f"r{n:05d}"},
                    "user_id": {"S": "heavy"},
                    "created_at": {"S": (created + timedelta(seconds=n)).isoformat()[:19] + "Z"},
                }
            }
        }
        for n in range(favorites)
    ]
    for start in range(0, favorites, 25):
        request = {FAVORITES_TABLE: items[start : start + 25]}
        while request:
            request = dynamodb.batch_write_item(RequestItems=request).get("UnprocessedItems")
    add(dynamodb, "r00000", "other")

    began = time.monotonic()
    receipt = erase(ErasureStore(dynamodb, FAVORITES_TABLE), "heavy", settle_seconds=1.0)
    seconds = time.monotonic() - began
    rate = favorites / seconds
    print(f"erased {favorites} favorites in {seconds:.1f} s: {rate:.0f} favorites/s")
    assert receipt.finished
    assert receipt.deleted == favorites
    assert receipt.pages >= favorites // 100  # bounded pages of 100
    assert favorites_of(dynamodb, "heavy") == set()
    assert favorites_of(dynamodb, "other") == {"r00000"}
    # The function keeps 10 s back; the whole erasure fits in the rest. (On a
    # quiet machine it takes a third of it; past the rest, the next receive
    # would continue it.)
    assert seconds < stage("prod").timeout("erase_favorites") - 10
