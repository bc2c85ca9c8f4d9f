"""The GraphQL contract through Chalice's test client, on moto."""

from __future__ import annotations

import json
from datetime import UTC, datetime

import pytest

from chalicelib.counts import MARKER_PREFIX
from tests.support import error_codes, graphql

FAVORITE = """
mutation Fav($id: ID!) {
  favorite(restaurantId: $id) { restaurant { id viewerHasFavorited } changed }
}
"""
UNFAVORITE = """
mutation Unfav($id: ID!) {
  unfavorite(restaurantId: $id) { restaurant { id viewerHasFavorited } changed }
}
"""
VIEWER = """
query Mine($first: Int!, $after: String) {
  viewer { id favorites(first: $first, after: $after) {
    edges { createdAt node { id } } pageInfo { hasNextPage endCursor } } }
}
"""
TOP = """
query Top($window: TimeWindow!, $period: String, $first: Int!) {
  topRestaurants(window: $window, period: $period, first: $first) {
    edges { rank favoriteCount node { id } } }
}
"""


def rows(result):
    """The ranking's rows as (rank, restaurant id, count)."""
    return [
        (edge["rank"], edge["node"]["id"], edge["favoriteCount"])
        for edge in result["data"]["topRestaurants"]["edges"]
    ]


def favorites_items(dynamodb):
    return dynamodb.scan(TableName="favorites-test")["Items"]


def test_favorite_writes_once_and_repeats_change_nothing(client, dynamodb):
    first = graphql(client, FAVORITE, {"id": "pizza-1"}, user="alice")
    assert first == {
        "data": {
            "favorite": {
                "restaurant": {"id": "pizza-1", "viewerHasFavorited": True},
                "changed": True,
            }
        }
    }
    before = favorites_items(dynamodb)
    again = graphql(client, FAVORITE, {"id": "pizza-1"}, user="alice")
    assert again["data"]["favorite"] == {
        "restaurant": {"id": "pizza-1", "viewerHasFavorited": True},
        "changed": False,
    }
    assert favorites_items(dynamodb) == before
    [item] = before
    assert item["user_id"] == {"S": "alice"}
    created = item["created_at"]["S"]
    assert created.endswith("Z")
    assert len(created) == len("2026-11-23T08:15:30.123Z")


def test_unfavorite_removes_and_repeats_say_unchanged(client, dynamodb):
    graphql(client, FAVORITE, {"id": "pizza-1"}, user="alice")
    removed = graphql(client, UNFAVORITE, {"id": "pizza-1"}, user="alice")
    assert removed["data"]["unfavorite"] == {
        "restaurant": {"id": "pizza-1", "viewerHasFavorited": False},
        "changed": True,
    }
    assert favorites_items(dynamodb) == []
    again = graphql(client, UNFAVORITE, {"id": "pizza-1"}, user="alice")
    assert again["data"]["unfavorite"]["changed"] is False


def test_one_user_cannot_remove_another_users_favorite(client, dynamodb):
    graphql(client, FAVORITE, {"id": "pizza-1"}, user="alice")
    by_bob = graphql(client, UNFAVORITE, {"id": "pizza-1"}, user="bob")
    assert by_bob["data"]["unfavorite"]["changed"] is False
    assert len(favorites_items(dynamodb)) == 1


def test_viewer_pages_through_favorites_newest_first(client, serve):
    from datetime import timedelta

    # One favorite a minute, so "newest first" has exactly one right order.
    start = datetime(2026, 11, 23, 8, 0, tzinfo=UTC)
    moments = iter(start + timedelta(minutes=i) for i in range(100))
    serve(clock=lambda: next(moments).timestamp())
    ids = [f"r{i}" for i in range(5)]
    for restaurant in ids:
        graphql(client, FAVORITE, {"id": restaurant}, user="alice")
    graphql(client, FAVORITE, {"id": "other"}, user="bob")

    seen: list[str] = []
    after = None
    pages = 0
    while True:
        result = graphql(client, VIEWER, {"first": 2, "after": after}, user="alice")
        viewer = result["data"]["viewer"]
        assert viewer["id"] == "viewer/alice"
        page = viewer["favorites"]
        seen += [edge["node"]["id"] for edge in page["edges"]]
        pages += 1
        if not page["pageInfo"]["hasNextPage"]:
            break
        after = page["pageInfo"]["endCursor"]
    assert pages == 3
    assert seen == ids[::-1]  # newest first, every favorite once, none of bob's
    [last] = page["edges"]
    assert last == {"node": {"id": "r0"}, "createdAt": "2026-11-23T08:00:00.000Z"}


def test_viewer_is_null_without_identity_and_on_the_public_route(client):
    assert graphql(client, "{ viewer { id } }", public=True) == {"data": {"viewer": None}}
    # A token sent to the public route is ignored: the route has no identity.
    response = client.http.post(
        "/public/graphql",
        headers={"Content-Type": "application/json", "Authorization": "x.eyJzdWIiOiJhIn0.y"},
        body=json.dumps({"query": "{ viewer { id } }"}),
    )
    assert json.loads(response.body) == {"data": {"viewer": None}}


def test_mutations_on_the_public_route_are_unauthenticated(client, dynamodb):
    result = graphql(client, FAVORITE, {"id": "pizza-1"}, public=True)
    assert error_codes(result) == ["UNAUTHENTICATED"]
    assert "signed-in user" in result["errors"][0]["message"]
    assert favorites_items(dynamodb) == []


def test_a_token_without_sub_has_no_identity(client, dynamodb):
    from local.tokens import token

    response = client.http.post(
        "/graphql",
        headers={
            "Content-Type": "application/json",
            "Authorization": token(None, **{"cognito:username": "nobody"}),
        },
        body=json.dumps({"query": FAVORITE, "variables": {"id": "r1"}}),
    )
    assert error_codes(json.loads(response.body)) == ["UNAUTHENTICATED"]
    assert favorites_items(dynamodb) == []


def test_restaurant_reports_counts_and_viewer_state(client, dynamodb):
    now = datetime.now(UTC)
    dynamodb.put_item(
        TableName="favorite-counts-test",
        Item={
            "restaurant_id": {"S": "r1"},
            "bucket": {"S": f"MONTH#{now:%Y-%m}"},
            "favorite_count": {"N": "7"},
        },
    )
    graphql(client, FAVORITE, {"id": "r1"}, user="alice")
    query = """
    query R($id: ID!) { restaurant(id: $id) {
      id all: favoriteCount month: favoriteCount(window: MONTH)
      past: favoriteCount(window: MONTH, period: "2020-01") viewerHasFavorited } }
    """
    mine = graphql(client, query, {"id": "r1"}, user="alice")["data"]["restaurant"]
    assert mine == {"id": "r1", "all": 0, "month": 7, "past": 0, "viewerHasFavorited": True}
    theirs = graphql(client, query, {"id": "r1"}, user="bob")["data"]["restaurant"]
    assert theirs["viewerHasFavorited"] is False
    anonymous = graphql(client, query, {"id": "r1"}, public=True)["data"]["restaurant"]
    assert anonymous["viewerHasFavorited"] is False


@pytest.mark.parametrize(
    ("query", "variables", "message", "data"),
    [
        (
            TOP,
            {"window": "ALL_TIME", "period": "2026-10", "first": 10},
            "ALL_TIME",
            {"topRestaurants": None},
        ),
        (
            TOP,
            {"window": "MONTH", "period": "2026/10", "first": 10},
            "YYYY-MM",
            {"topRestaurants": None},
        ),
        (
            TOP,
            {"window": "DAY", "period": "2026-02-31", "first": 10},
            "YYYY-MM-DD",
            {"topRestaurants": None},
        ),
        (
            TOP,
            {"window": "ALL_TIME", "period": None, "first": 0},
            "between 1 and 100",
            {"topRestaurants": None},
        ),
        (
            TOP,
            {"window": "ALL_TIME", "period": None, "first": 101},
            "between 1 and 100",
            {"topRestaurants": None},
        ),
        # Mutations keep their errors as they were: the payload is non-null, so no data.
        (FAVORITE, {"id": "no spaces"}, "restaurantId must be", None),
        (FAVORITE, {"id": "x" * 129}, "restaurantId must be", None),
        ('{ restaurant(id: "#EVENT#1") { id } }', {}, "id must be", {"restaurant": None}),
        # The connection is non-null: its error nulls the viewer.
        (VIEWER, {"first": 2, "after": "not-a-cursor"}, "cursor", {"viewer": None}),
        (VIEWER, {"first": 500, "after": None}, "between 1 and 100", {"viewer": None}),
    ],
)
def test_bad_input_is_a_bad_user_input_error_that_says_what_is_wrong(
    client, query, variables, message, data
):
    result = graphql(client, query, variables, user="alice")
    assert error_codes(result) == ["BAD_USER_INPUT"]
    assert message in result["errors"][0]["message"]
    assert result["data"] == data
    # The error's path names the root field it nulled.
    field = "favorite" if data is None else next(iter(data))
    assert result["errors"][0]["path"][0] == field
    assert "Traceback" not in json.dumps(result)


def test_unexpected_failures_are_masked(client, services, monkeypatch):
    def broken(*args, **kwargs):
        raise RuntimeError("secret table detail")

    monkeypatch.setattr(services.rankings(), "top_page", broken)
    result = graphql(client, TOP, {"window": "ALL_TIME", "period": None, "first": 5}, public=True)
    assert error_codes(result) == ["INTERNAL_SERVER_ERROR"]
    assert "secret" not in json.dumps(result)


def test_top_restaurants_orders_by_count_then_id_and_skips_markers_and_zeroes(client, dynamodb):
    def count(restaurant: str, n: int, bucket: str = "ALL") -> None:
        dynamodb.put_item(
            TableName="favorite-counts-test",
            Item={
                "restaurant_id": {"S": restaurant},
                "bucket": {"S": bucket},
                "favorite_count": {"N": str(n)},
                "rank_partition": {"S": f"{bucket}#0"},
            },
        )

    for restaurant, n in [("b", 3), ("a", 3), ("c", 9), ("d", 1), ("z", 0), ("e", 3)]:
        count(restaurant, n)
    count("m", 4, "MONTH#2026-10")
    dynamodb.put_item(
        TableName="favorite-counts-test",
        Item={"restaurant_id": {"S": MARKER_PREFIX + "e1"}, "bucket": {"S": "MARKER"}},
    )
    top = graphql(client, TOP, {"window": "ALL_TIME", "period": None, "first": 3}, public=True)
    assert rows(top) == [(1, "c", 9), (2, "a", 3), (3, "b", 3)]
    everything = graphql(client, TOP, {"window": "ALL_TIME", "period": None, "first": 100})
    assert [restaurant for _, restaurant, _ in rows(everything)] == ["c", "a", "b", "e", "d"]
    october = graphql(client, TOP, {"window": "MONTH", "period": "2026-10", "first": 10})
    assert rows(october) == [(1, "m", 4)]


def test_queries_work_over_get(client):
    response = client.http.get("/public/graphql?query=%7BtopRestaurants%7Bedges%7Brank%7D%7D%7D")
    assert response.status_code == 200
    assert json.loads(response.body) == {"data": {"topRestaurants": {"edges": []}}}


def test_schema_file_is_the_exported_schema():
    from pathlib import Path

    from chalicelib.api.schema import sdl

    exported = (Path(__file__).resolve().parents[2] / "schema.graphql").read_text()
    assert exported == sdl(), "schema.graphql is stale: run 'make schema'"


def test_subgraph_schema_file_is_the_exported_subgraph_schema():
    from pathlib import Path

    from chalicelib.api.schema import subgraph_sdl

    exported = (Path(__file__).resolve().parents[2] / "schema.subgraph.graphql").read_text()
    assert exported == subgraph_sdl(), "schema.subgraph.graphql is stale: run 'make schema'"
