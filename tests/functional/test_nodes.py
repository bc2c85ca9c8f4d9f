"""Global ids and ``Query.node``: what Relay refetches and normalized caches key on."""

from __future__ import annotations

import pytest

from tests.support import graphql, put_counts, put_favorites

NODE = """
query N($id: ID!) {
  node(id: $id) {
    __typename
    id
    ... on Restaurant { favoriteCount viewerHasFavorited }
    ... on Viewer { favorites(first: 5) { edges { node { id } } } }
  }
}
"""


@pytest.fixture
def seeded(dynamodb):
    put_counts(dynamodb, "ALL", {"r1": 3, "r2": 1})
    put_favorites(dynamodb, "alice", ["r1"])
    return dynamodb


def test_a_restaurant_id_refetches_the_restaurant_with_its_fields(client, seeded):
    node = graphql(client, NODE, {"id": "r1"}, user="alice")["data"]["node"]
    assert node == {
        "__typename": "Restaurant",
        "id": "r1",
        "favoriteCount": 3,
        "viewerHasFavorited": True,
    }
    # Any valid restaurant id is a restaurant, as in restaurants(ids:): nobody favorited it yet.
    fresh = graphql(client, NODE, {"id": "r9"}, public=True)["data"]["node"]
    assert fresh == {
        "__typename": "Restaurant",
        "id": "r9",
        "favoriteCount": 0,
        "viewerHasFavorited": False,
    }


def test_the_callers_own_viewer_id_refetches_the_viewer(client, seeded):
    viewer_id = graphql(client, "{ viewer { id } }", user="alice")["data"]["viewer"]["id"]
    assert viewer_id == "viewer/alice"
    node = graphql(client, NODE, {"id": viewer_id}, user="alice")["data"]["node"]
    assert node == {
        "__typename": "Viewer",
        "id": "viewer/alice",
        "favorites": {"edges": [{"node": {"id": "r1"}}]},
    }


def test_another_users_viewer_id_is_null(client, seeded):
    # Null, exactly as for a user who does not exist: no way to probe who does.
    for user, public in (("bob", False), (None, True), (None, False)):
        for viewer_id in ("viewer/alice", "viewer/nobody"):
            result = graphql(client, NODE, {"id": viewer_id}, user=user, public=public)
            assert result == {"data": {"node": None}}
    # The public route has no identity, whatever token comes with the request.
    assert graphql(client, NODE, {"id": "viewer/alice"}, public=True) == {"data": {"node": None}}


@pytest.mark.parametrize(
    "node_id", ["", "has space", "viewer/", "a/b", "-leading-dash", "x" * 129, "viewer"]
)
def test_a_malformed_id_is_null(client, seeded, node_id):
    result = graphql(client, NODE, {"id": node_id}, user="alice")
    if node_id == "viewer":
        # A valid restaurant id ("viewer" has no slash): a restaurant nobody favorited.
        assert result["data"]["node"]["__typename"] == "Restaurant"
    else:
        assert result == {"data": {"node": None}}


def test_a_user_whose_id_equals_a_restaurant_id_gets_two_distinct_nodes(client, seeded):
    # A sub that equals a restaurant id: a normalized cache must still see two records.
    both = graphql(
        client,
        '{ viewer { __typename id } restaurant(id: "r1") { __typename id } }',
        user="r1",
    )["data"]
    assert both["viewer"] == {"__typename": "Viewer", "id": "viewer/r1"}
    assert both["restaurant"] == {"__typename": "Restaurant", "id": "r1"}
    assert graphql(client, NODE, {"id": "r1"}, user="r1")["data"]["node"]["__typename"] == (
        "Restaurant"
    )
