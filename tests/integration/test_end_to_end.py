"""The whole loop on DynamoDB Local: GraphQL mutation -> stream -> handler -> ranking."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest

from chalicelib.favorites import FavoritesStore
from tests.support import FAVORITES_TABLE, graphql

pytestmark = pytest.mark.integration

FAVORITE = "mutation F($id: ID!) { favorite(restaurantId: $id) { changed } }"
UNFAVORITE = "mutation U($id: ID!) { unfavorite(restaurantId: $id) { changed } }"
TOP = """
query T($window: TimeWindow!, $period: String) {
  topRestaurants(window: $window, period: $period, first: 10) {
    edges { rank favoriteCount node { id } }
  }
}
"""


def top(client: Any, window: str, period: str | None = None) -> list[tuple[str, int]]:
    result = graphql(client, TOP, {"window": window, "period": period}, public=True)
    assert "errors" not in result, result
    edges = result["data"]["topRestaurants"]["edges"]
    return [(edge["node"]["id"], edge["favoriteCount"]) for edge in edges]


def test_rankings_follow_favorites_for_every_window(client, worker):
    now = datetime.now(UTC)
    favorites = {
        "alice": ["sushi", "tacos", "pizza"],
        "bob": ["tacos", "pizza"],
        "carol": ["tacos"],
    }
    for user, restaurants in favorites.items():
        for restaurant in restaurants:
            result = graphql(client, FAVORITE, {"id": restaurant}, user=user)
            assert result == {"data": {"favorite": {"changed": True}}}
    # A repeat writes nothing, so nothing reaches the stream.
    assert graphql(client, FAVORITE, {"id": "tacos"}, user="carol")["data"]["favorite"] == {
        "changed": False
    }

    delivered = worker.drain()
    assert delivered == 6
    expected = [("tacos", 3), ("pizza", 2), ("sushi", 1)]
    assert top(client, "ALL_TIME") == expected
    assert top(client, "MONTH") == expected
    assert top(client, "DAY") == expected
    assert top(client, "DAY", f"{now:%Y-%m-%d}") == expected
    assert top(client, "MONTH", "2001-01") == []

    graphql(client, UNFAVORITE, {"id": "tacos"}, user="alice")
    graphql(client, UNFAVORITE, {"id": "tacos"}, user="bob")
    assert worker.drain() == 2
    assert top(client, "ALL_TIME") == [("pizza", 2), ("sushi", 1), ("tacos", 1)]


def test_unfavorite_of_an_earlier_months_favorite_decrements_that_month(client, dynamodb, worker):
    october = datetime(2026, 10, 31, 22, 0, tzinfo=UTC)
    # Written as the API would have written it in October.
    FavoritesStore(dynamodb, FAVORITES_TABLE, clock=lambda: october).add("alice", "ramen")
    graphql(client, FAVORITE, {"id": "ramen"}, user="bob")
    worker.drain()
    assert top(client, "ALL_TIME") == [("ramen", 2)]
    assert top(client, "MONTH", "2026-10") == [("ramen", 1)]
    assert top(client, "DAY", "2026-10-31") == [("ramen", 1)]

    result = graphql(client, UNFAVORITE, {"id": "ramen"}, user="alice")
    assert result == {"data": {"unfavorite": {"changed": True}}}
    worker.drain()
    assert top(client, "ALL_TIME") == [("ramen", 1)]
    assert top(client, "MONTH", "2026-10") == []  # count 0 leaves the ranking
    now = datetime.now(UTC)
    assert top(client, "MONTH", f"{now:%Y-%m}") == [("ramen", 1)]
    restaurant = graphql(
        client,
        '{ restaurant(id: "ramen") { oct: favoriteCount(window: MONTH, period: "2026-10") } }',
        public=True,
    )
    assert restaurant == {"data": {"restaurant": {"oct": 0}}}


def test_redelivery_through_the_worker_changes_nothing(client, worker, dynamodb):
    for user in ("u1", "u2", "u3"):
        graphql(client, FAVORITE, {"id": "pho"}, user=user)
    worker.drain()
    # Replay the whole stream from the start, as a retried Lambda batch would.
    from local.stream_worker import StreamWorker

    replay = StreamWorker(
        streams=worker.streams, stream_arn=worker.stream_arn, handler=worker.handler
    )
    assert replay.drain() == 3
    assert top(client, "ALL_TIME") == [("pho", 3)]


def test_batch_item_failures_make_the_worker_redeliver_from_the_named_record(client, worker):
    from app import aggregate_favorites

    calls: list[int] = []

    def flaky(event: dict[str, Any], context: Any) -> Any:
        calls.append(len(event["Records"]))
        if len(calls) == 1:
            second = event["Records"][1]["dynamodb"]["SequenceNumber"]
            # Apply only the first record, then ask for the rest again.
            aggregate_favorites({"Records": event["Records"][:1]}, context)
            return {"batchItemFailures": [{"itemIdentifier": second}]}
        return aggregate_favorites(event, context)

    worker.handler = flaky
    for restaurant in ("a1", "a2", "a3"):
        graphql(client, FAVORITE, {"id": restaurant}, user="alice")
    worker.drain()
    assert calls == [3, 2]
    assert worker.stats.redeliveries == 1
    assert sorted(top(client, "ALL_TIME")) == [("a1", 1), ("a2", 1), ("a3", 1)]
