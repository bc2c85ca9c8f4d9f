"""Mutation payloads return what changed, so a normalized cache updates itself by id."""

from __future__ import annotations

from tests.support import dynamodb_calls, error_codes, graphql, put_counts, put_favorites

FAVORITE = """
mutation F($id: ID!) {
  favorite(restaurantId: $id) {
    changed
    restaurant { __typename id viewerHasFavorited favoriteCount }
    favoriteEdge { cursor createdAt node { id viewerHasFavorited } }
  }
}
"""
UNFAVORITE = """
mutation U($id: ID!) {
  unfavorite(restaurantId: $id) {
    changed
    restaurant { __typename id viewerHasFavorited favoriteCount }
    favoriteEdge { cursor }
  }
}
"""
FAVORITES = """
query F($after: String) {
  viewer { favorites(first: 10, after: $after) { edges { cursor createdAt node { id } } } }
}
"""


def test_favorite_returns_the_restaurant_with_its_new_heart_and_the_new_edge(client, dynamodb):
    put_counts(dynamodb, "ALL", {"r1": 4})
    payload = graphql(client, FAVORITE, {"id": "r1"}, user="alice")["data"]["favorite"]
    assert payload["changed"] is True
    # The count is the counted value: the stream adds this favorite within about a second.
    assert payload["restaurant"] == {
        "__typename": "Restaurant",
        "id": "r1",
        "viewerHasFavorited": True,
        "favoriteCount": 4,
    }
    edge = payload["favoriteEdge"]
    assert edge["node"] == {"id": "r1", "viewerHasFavorited": True}
    # The same edge the list has: same cursor, same instant.
    [listed] = graphql(client, FAVORITES, user="alice")["data"]["viewer"]["favorites"]["edges"]
    assert listed == {
        "cursor": edge["cursor"],
        "createdAt": edge["createdAt"],
        "node": {"id": "r1"},
    }


def test_a_repeated_favorite_changes_nothing_and_has_no_edge(client, dynamodb):
    graphql(client, FAVORITE, {"id": "r1"}, user="alice")
    payload = graphql(client, FAVORITE, {"id": "r1"}, user="alice")["data"]["favorite"]
    assert payload["changed"] is False
    assert payload["favoriteEdge"] is None
    assert payload["restaurant"]["viewerHasFavorited"] is True


def test_unfavorite_returns_the_restaurant_without_its_heart(client, dynamodb):
    put_favorites(dynamodb, "alice", ["r1"])
    payload = graphql(client, UNFAVORITE, {"id": "r1"}, user="alice")["data"]["unfavorite"]
    assert payload == {
        "changed": True,
        "restaurant": {
            "__typename": "Restaurant",
            "id": "r1",
            "viewerHasFavorited": False,
            "favoriteCount": 0,
        },
        "favoriteEdge": None,
    }
    again = graphql(client, UNFAVORITE, {"id": "r1"}, user="alice")["data"]["unfavorite"]
    assert again["changed"] is False
    assert again["restaurant"]["viewerHasFavorited"] is False


def test_the_payloads_heart_costs_no_read(client, dynamodb):
    query = (
        "mutation F($id: ID!) { favorite(restaurantId: $id) { restaurant { viewerHasFavorited } } }"
    )
    with dynamodb_calls(dynamodb) as calls:
        graphql(client, query, {"id": "r1"}, user="alice")
    assert calls == {"PutItem": 1}


def test_one_bad_root_field_leaves_the_others_data(client, dynamodb):
    put_counts(dynamodb, "ALL", {"r1": 2})
    query = """
    query {
      topRestaurants(first: 1) { edges { node { id } } }
      restaurants(ids: ["has space"]) { id }
      restaurant(id: "r1") { favoriteCount }
      node(id: "r1") { id }
    }
    """
    result = graphql(client, query, public=True)
    assert result["data"] == {
        "topRestaurants": {"edges": [{"node": {"id": "r1"}}]},
        "restaurants": None,
        "restaurant": {"favoriteCount": 2},
        "node": {"id": "r1"},
    }
    assert error_codes(result) == ["BAD_USER_INPUT"]
    assert result["errors"][0]["path"] == ["restaurants"]
