"""A screen in one request: ranked rows that know the viewer, lookups by ids, on moto.

The DynamoDB calls each request makes are counted with botocore's event hooks
on the real client, so "batched" is a number, not a claim.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime

import pytest

from tests.support import (
    FAVORITES_TABLE,
    dynamodb_calls,
    error_codes,
    graphql,
    put_counts,
    put_favorites,
)

RANKED = [f"r{index:03d}" for index in range(120)]
# Counts 1..6 with ties everywhere, so the order by id inside a count matters.
COUNTS = {restaurant: 1 + index % 6 for index, restaurant in enumerate(RANKED)}
ORDER = sorted(COUNTS, key=lambda r: (-COUNTS[r], r))
HEARTS = RANKED[::7]

TOP_PLAIN = """
query T($n: Int!) { topRestaurants(first: $n) { edges { rank favoriteCount node { id } } } }
"""
TOP_WITH_HEARTS = """
query T($n: Int!) {
  topRestaurants(first: $n) {
    edges {
      rank favoriteCount
      node { id viewerHasFavorited favoriteCount }
    }
  }
}
"""
BY_IDS = """
query R($ids: [ID!]!) {
  restaurants(ids: $ids) { id favoriteCount viewerHasFavorited month: favoriteCount(window: MONTH) }
}
"""
# The same list beside a field that does not fail: a bad list must not blank it.
BY_IDS_BESIDE_ONE = """
query R($ids: [ID!]!) {
  restaurants(ids: $ids) { id favoriteCount viewerHasFavorited month: favoriteCount(window: MONTH) }
  beside: restaurant(id: "r001") { id }
}
"""


def edges(result):
    return result["data"]["topRestaurants"]["edges"]


@pytest.fixture
def ranked(dynamodb):
    put_counts(dynamodb, "ALL", COUNTS)
    put_favorites(dynamodb, "alice", HEARTS)
    return dynamodb


def test_ranked_rows_carry_their_restaurant_with_its_count_and_the_viewers_heart(client, ranked):
    rows = edges(graphql(client, TOP_WITH_HEARTS, {"n": 100}, user="alice"))
    assert [row["node"]["id"] for row in rows] == ORDER[:100]
    assert [row["rank"] for row in rows] == list(range(1, 101))
    for row in rows:
        restaurant = row["node"]["id"]
        assert row["favoriteCount"] == COUNTS[restaurant]
        assert row["node"] == {
            "id": restaurant,
            "viewerHasFavorited": restaurant in HEARTS,
            "favoriteCount": COUNTS[restaurant],
        }
    assert sum(row["node"]["viewerHasFavorited"] for row in rows) == len(
        set(HEARTS) & set(ORDER[:100])
    )
    # Nobody else's hearts, and none without an identity.
    for other in (
        graphql(client, TOP_WITH_HEARTS, {"n": 100}, user="bob"),
        graphql(client, TOP_WITH_HEARTS, {"n": 100}, public=True),
    ):
        assert not any(r["node"]["viewerHasFavorited"] for r in edges(other))


def test_a_ranked_list_of_100_with_hearts_and_counts_costs_at_most_two_calls_more(client, ranked):
    with dynamodb_calls(ranked) as plain:
        graphql(client, TOP_PLAIN, {"n": 100}, user="alice")
    with dynamodb_calls(ranked) as hearts:
        graphql(client, TOP_WITH_HEARTS, {"n": 100}, user="alice")
    assert sum(hearts.values()) - sum(plain.values()) <= 2
    # The count in the ranking's own window is the ranked one: only the hearts are read,
    # from the viewer's set of favorites in one Query.
    assert hearts - plain == {"Query": 1}

    # Another window's count for every row: one more batch, still not one read per row.
    month = TOP_WITH_HEARTS.replace("favoriteCount }", "favoriteCount(window: MONTH) }")
    with dynamodb_calls(ranked) as other_window:
        rows = edges(graphql(client, month, {"n": 100}, user="alice"))
    assert other_window - plain == {"Query": 1, "BatchGetItem": 1}
    assert {row["node"]["favoriteCount"] for row in rows} == {0}


def test_without_an_identity_the_hearts_cost_no_read(client, ranked):
    with dynamodb_calls(ranked) as plain:
        graphql(client, TOP_PLAIN, {"n": 100}, public=True)
    with dynamodb_calls(ranked) as hearts:
        graphql(client, TOP_WITH_HEARTS, {"n": 100}, public=True)
    assert hearts == plain


def test_restaurants_by_ids_answer_in_the_order_asked_with_zero_for_unknown_ids(client, ranked):
    month = f"MONTH#{datetime.now(UTC):%Y-%m}"
    put_counts(ranked, month, {"r007": 4})
    ids = ["r007", "nobody-favorited-this", "r001", "r007", "r014"]
    result = graphql(client, BY_IDS, {"ids": ids}, user="alice")
    assert result["data"]["restaurants"] == [
        {"id": "r007", "favoriteCount": COUNTS["r007"], "viewerHasFavorited": True, "month": 4},
        {
            "id": "nobody-favorited-this",
            "favoriteCount": 0,
            "viewerHasFavorited": False,
            "month": 0,
        },
        {"id": "r001", "favoriteCount": COUNTS["r001"], "viewerHasFavorited": False, "month": 0},
        {"id": "r007", "favoriteCount": COUNTS["r007"], "viewerHasFavorited": True, "month": 4},
        {"id": "r014", "favoriteCount": COUNTS["r014"], "viewerHasFavorited": True, "month": 0},
    ]


def test_restaurants_by_ids_read_each_kind_once_for_100_ids(client, ranked):
    ids = RANKED[:100]
    with dynamodb_calls(ranked) as bare:
        graphql(client, "query R($ids: [ID!]!) { restaurants(ids: $ids) { id } }", {"ids": ids})
    assert sum(bare.values()) == 0
    with dynamodb_calls(ranked) as full:
        result = graphql(client, BY_IDS, {"ids": ids}, user="alice")
    # Hearts from the viewer's set (one Query); all-time and month counts: one
    # BatchGetItem of 100 keys each.
    assert full == {"Query": 1, "BatchGetItem": 2}
    rows = result["data"]["restaurants"]
    assert [row["favoriteCount"] for row in rows] == [COUNTS[r] for r in ids]
    assert [row["viewerHasFavorited"] for row in rows] == [r in HEARTS for r in ids]


def test_lists_whose_rows_ask_nothing_cost_no_read(client, ranked):
    """Seven lists of 100 ids asking only ``id``, then one restaurant's count:
    the reads are that restaurant's, not every id the request named."""
    lists = [RANKED[n : n + 100] for n in range(0, 14, 2)]
    aliases = " ".join(f"l{n}: restaurants(ids: $i{n}) {{ id }}" for n in range(len(lists)))
    variables = ", ".join(f"$i{n}: [ID!]!" for n in range(len(lists)))
    query = f'query Q({variables}) {{ {aliases} restaurant(id: "r119") {{ favoriteCount }} }}'
    with dynamodb_calls(ranked) as calls:
        result = graphql(client, query, {f"i{n}": ids for n, ids in enumerate(lists)})
    assert result["data"]["restaurant"]["favoriteCount"] == COUNTS["r119"]
    assert calls == {"BatchGetItem": 1}
    with dynamodb_calls(ranked) as second:
        query = "query Q($a: [ID!]!, $b: [ID!]!) { a: restaurants(ids: $a) { id } "
        query += "b: restaurants(ids: $b) { favoriteCount } }"
        result = graphql(client, query, {"a": RANKED[:100], "b": RANKED[100:]})
    assert [row["favoriteCount"] for row in result["data"]["b"]] == [
        COUNTS[r] for r in RANKED[100:]
    ]
    assert second == {"BatchGetItem": 1}


@pytest.mark.parametrize(
    ("ids", "message"),
    [
        ([], "ids must hold 1 to 100 ids, got 0"),
        ([f"r{index}" for index in range(101)], "ids must hold 1 to 100 ids, got 101"),
        (["r1", "no spaces"], "ids[1] must be 1 to 128 characters"),
        (["r1", "x" * 129], "ids[1] must be 1 to 128 characters"),
        (["#EVENT#1"], "ids[0] must be"),
    ],
)
def test_an_ids_list_out_of_bounds_or_with_a_bad_id_is_bad_user_input(
    client, dynamodb, ids, message
):
    with dynamodb_calls(dynamodb) as calls:
        result = graphql(client, BY_IDS_BESIDE_ONE, {"ids": ids}, user="alice")
    assert error_codes(result) == ["BAD_USER_INPUT"]
    assert result["errors"][0]["message"].startswith(message)
    # The list is null, its error names it, and the field beside it keeps its data.
    assert result["data"] == {"restaurants": None, "beside": {"id": "r001"}}
    assert result["errors"][0]["path"] == ["restaurants"]
    assert sum(calls.values()) == 0
    assert "Traceback" not in json.dumps(result)


def test_hearts_for_100_rows_are_one_query_of_the_viewers_10_favorites(client, ranked):
    from devtools.calls import counting

    ten = RANKED[:100:10]
    put_favorites(ranked, "carol", ten)
    with counting(ranked) as plain:
        graphql(client, TOP_PLAIN, {"n": 100}, user="carol")
    with counting(ranked) as hearts:
        rows = edges(graphql(client, TOP_WITH_HEARTS, {"n": 100}, user="carol"))
    assert hearts.calls - plain.calls == {"Query": 1}
    # The one Query read the viewer's 10 index entries (and nothing per row).
    assert hearts.items_read - plain.items_read == len(ten)
    assert {row["node"]["id"] for row in rows if row["node"]["viewerHasFavorited"]} == (
        set(ten) & set(ORDER[:100])
    )


def test_a_viewer_past_the_set_limit_gets_hearts_by_id_as_before(client, ranked):
    from chalicelib.favorites import VIEWER_SET_LIMIT

    many = [f"many-{index:04d}" for index in range(VIEWER_SET_LIMIT + 1)]
    put_favorites(ranked, "dave", [*many, *HEARTS])
    with dynamodb_calls(ranked) as plain:
        graphql(client, TOP_PLAIN, {"n": 100}, user="dave")
    with dynamodb_calls(ranked) as hearts:
        rows = edges(graphql(client, TOP_WITH_HEARTS, {"n": 100}, user="dave"))
    # The set was too large: one Query (stopped one past the limit), then the 100 ids.
    assert hearts - plain == {"Query": 1, "BatchGetItem": 1}
    assert {row["node"]["id"] for row in rows if row["node"]["viewerHasFavorited"]} == (
        set(HEARTS) & set(ORDER[:100])
    )


def test_the_viewers_own_tap_shows_on_the_next_read_before_the_index_has_it(client, ranked):
    favorite = "mutation F($id: ID!) { favorite(restaurantId: $id) { changed } }"
    unfavorite = "mutation U($id: ID!) { unfavorite(restaurantId: $id) { changed } }"
    graphql(client, favorite, {"id": "r000"}, user="erin")
    graphql(client, favorite, {"id": "r001"}, user="erin")
    graphql(client, unfavorite, {"id": "r001"}, user="erin")
    # moto's index follows at once; an index a second behind has not seen the tap:
    # take the favorite out of the table (and so the index) behind the API's back.
    ranked.delete_item(
        TableName=FAVORITES_TABLE,
        Key={"restaurant_id": {"S": "r000"}, "user_id": {"S": "erin"}},
    )
    ranked.put_item(
        TableName=FAVORITES_TABLE,
        Item={
            "restaurant_id": {"S": "r001"},
            "user_id": {"S": "erin"},
            "created_at": {"S": "2026-11-23T08:00:00.000Z"},
        },
    )
    result = graphql(client, BY_IDS, {"ids": ["r000", "r001"]}, user="erin")
    hearts = [row["viewerHasFavorited"] for row in result["data"]["restaurants"]]
    assert hearts == [True, False]
