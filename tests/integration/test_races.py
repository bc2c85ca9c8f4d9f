"""Two users racing on one restaurant, on DynamoDB Local, with threads.

Chalice keeps ``app.current_request`` on the app object (one request at a time,
as in Lambda), so the threads drive the same schema and stores the route uses,
each with its own request context, instead of sharing one Chalice app.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any

import pytest

from chalicelib.api.context import RequestContext
from chalicelib.services import Services
from tests.support import FAVORITES_TABLE, graphql

pytestmark = pytest.mark.integration

FAVORITE = "mutation F($id: ID!) { favorite(restaurantId: $id) { changed } }"
UNFAVORITE = "mutation U($id: ID!) { unfavorite(restaurantId: $id) { changed } }"
MINE = '{ restaurant(id: "r1") { viewerHasFavorited } }'
ROUNDS = 15


def run_as(services: Services, user: str, query: str) -> dict[str, Any]:
    context = RequestContext(
        user, services.favorites(), services.rankings(), settings=services.settings
    )
    result = services.schema().execute_sync(
        query, variable_values={"id": "r1"}, context_value=context
    )
    assert result.errors is None, result.errors
    assert result.data is not None
    return result.data


def race(*actions: Callable[[], None]) -> None:
    """Start every action at the same moment; re-raise the first failure."""
    start = threading.Barrier(len(actions))
    failures: list[BaseException] = []

    def runner(action: Callable[[], None]) -> None:
        start.wait()
        try:
            action()
        except BaseException as error:  # reported on the main thread
            failures.append(error)

    threads = [threading.Thread(target=runner, args=(action,)) for action in actions]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    if failures:
        raise failures[0]


def favorite_items(dynamodb: Any) -> dict[str, str]:
    items = dynamodb.scan(TableName=FAVORITES_TABLE, ConsistentRead=True)["Items"]
    return {item["user_id"]["S"]: item["created_at"]["S"] for item in items}


def test_two_users_racing_on_one_restaurant_never_touch_each_others_favorite(
    client, services, dynamodb, worker
):
    changed: dict[str, list[bool]] = {"alice": [], "bob": []}

    def first_favorite(user: str) -> Callable[[], None]:
        return lambda: changed[user].append(run_as(services, user, FAVORITE)["favorite"]["changed"])

    race(first_favorite("alice"), first_favorite("bob"))
    assert changed == {"alice": [True], "bob": [True]}
    alice_since = favorite_items(dynamodb)["alice"]

    bob_removed: list[bool] = []

    def alice_repeats_and_checks() -> None:
        for _ in range(ROUNDS):
            assert run_as(services, "alice", FAVORITE)["favorite"]["changed"] is False
            assert run_as(services, "alice", MINE)["restaurant"]["viewerHasFavorited"] is True

    def bob_toggles() -> None:
        for _ in range(ROUNDS):
            bob_removed.append(run_as(services, "bob", UNFAVORITE)["unfavorite"]["changed"])
            assert run_as(services, "bob", FAVORITE)["favorite"]["changed"] is True
        bob_removed.append(run_as(services, "bob", UNFAVORITE)["unfavorite"]["changed"])

    race(alice_repeats_and_checks, bob_toggles)
    assert bob_removed == [True] * (ROUNDS + 1)
    # Alice's favorite is the very item she wrote first; Bob's is gone.
    assert favorite_items(dynamodb) == {"alice": alice_since}

    worker.drain()
    top = graphql(client, "{ topRestaurants { edges { favoriteCount node { id } } } }", public=True)
    assert top == {
        "data": {"topRestaurants": {"edges": [{"favoriteCount": 1, "node": {"id": "r1"}}]}}
    }
