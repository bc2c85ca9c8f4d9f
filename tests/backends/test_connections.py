"""Relay Cursor Connections: what the stock pagination helpers of Apollo, urql and Relay need.

``hasNextPage`` must be exact: ``relayStylePagination()`` and Relay's ``loadNext``
stop on it, so a false "true" costs an empty request and a false "false" hides
the rest of the list.
"""

from __future__ import annotations

import random
from typing import Any

import pytest

from chalicelib.rankings import RankingStore
from tests.support import COUNTS_TABLE, dynamodb_calls, graphql, put_counts, put_favorites

TOP = """
query T($first: Int!, $after: String) {
  topRestaurants(first: $first, after: $after) {
    edges { cursor rank favoriteCount node { id favoriteCount } }
    pageInfo { hasNextPage hasPreviousPage startCursor endCursor }
  }
}
"""
FAVORITES = """
query F($first: Int!, $after: String) {
  viewer {
    favorites(first: $first, after: $after) {
      edges { cursor createdAt node { id viewerHasFavorited favoriteCount } }
      pageInfo { hasNextPage hasPreviousPage startCursor endCursor }
    }
  }
}
"""


def page_through(client: Any, first: int) -> list[dict[str, Any]]:
    connections, after = [], None
    while True:
        variables = {"first": first, "after": after}
        connection = graphql(client, TOP, variables, public=True)["data"]["topRestaurants"]
        connections.append(connection)
        if not connection["pageInfo"]["hasNextPage"]:
            return connections
        after = connection["pageInfo"]["endCursor"]


def test_a_ranking_pages_to_its_end_and_says_so_exactly(client, dynamodb):
    # 25 rows with ties across the page boundaries.
    counts = {f"r{index:02d}": 1 + index // 3 for index in range(25)}
    put_counts(dynamodb, "ALL", counts)
    expected = sorted(counts, key=lambda r: (-counts[r], r))
    for first in (1, 5, 10, 24, 25, 26, 100):
        pages = page_through(client, first)
        ids = [edge["node"]["id"] for page in pages for edge in page["edges"]]
        assert ids == expected, first
        # Only a page that exists is fetched: no empty last page, whatever ``first`` is.
        assert all(page["edges"] for page in pages)
        assert len(pages) == -(-25 // first)
        for page in pages:
            edges, info = page["edges"], page["pageInfo"]
            assert info["hasPreviousPage"] is False
            assert info["startCursor"] == edges[0]["cursor"]
            assert info["endCursor"] == edges[-1]["cursor"]
            assert all(edge["node"]["favoriteCount"] == edge["favoriteCount"] for edge in edges)


def test_an_empty_ranking_is_an_empty_connection(client, dynamodb):
    connection = graphql(client, TOP, {"first": 10}, public=True)["data"]["topRestaurants"]
    assert connection == {
        "edges": [],
        "pageInfo": {
            "hasNextPage": False,
            "hasPreviousPage": False,
            "startCursor": None,
            "endCursor": None,
        },
    }


@pytest.mark.parametrize("shards", [1, 4])
@pytest.mark.parametrize("seed", range(4))
def test_has_next_page_is_exact_on_every_page_with_ties_and_shards(dynamodb, shards, seed):
    rng = random.Random(seed)
    # Few distinct counts: runs of ties of every length meet the page boundaries.
    counts = {f"r{index:03d}": rng.randint(1, 4) for index in range(rng.randint(1, 40))}
    put_counts(dynamodb, "ALL", counts, shards=shards)
    expected = sorted(counts, key=lambda r: (-counts[r], r))
    store = RankingStore(dynamodb, COUNTS_TABLE, shards)
    for first in (1, 2, 3, 7, len(counts)):
        seen: list[str] = []
        after = None
        while True:
            page = store.cursor_page("ALL", first, after)
            seen += [row.restaurant_id for row in page.rows]
            assert page.has_next_page == (len(seen) < len(expected)), (first, len(seen))
            if not page.has_next_page:
                break
            after = store.cursor(page.rows[-1], "ALL")
        assert seen == expected


def test_the_viewers_favorites_are_a_connection_with_hearts_and_counts_read_together(
    client, dynamodb
):
    restaurants = [f"f{index:02d}" for index in range(7)]
    put_favorites(dynamodb, "alice", restaurants)
    put_counts(dynamodb, "ALL", dict.fromkeys(restaurants, 2))
    seen: list[str] = []
    after = None
    with dynamodb_calls(dynamodb) as calls:
        while True:
            data = graphql(client, FAVORITES, {"first": 3, "after": after}, user="alice")
            connection = data["data"]["viewer"]["favorites"]
            edges, info = connection["edges"], connection["pageInfo"]
            seen += [edge["node"]["id"] for edge in edges]
            assert all(edge["node"]["viewerHasFavorited"] for edge in edges)
            assert all(edge["node"]["favoriteCount"] == 2 for edge in edges)
            assert info["startCursor"] == edges[0]["cursor"]
            assert info["endCursor"] == edges[-1]["cursor"]
            assert info["hasPreviousPage"] is False
            if not info["hasNextPage"]:
                break
            after = info["endCursor"]
    assert sorted(seen) == restaurants
    assert len(seen) == 7
    # Per page: the list (a Query), the viewer's set for the hearts (a Query) and one
    # read of the counts, whatever its length.
    pages = 3
    assert calls == {"Query": 2 * pages, "BatchGetItem": pages}


def test_an_edges_own_cursor_continues_after_that_edge(client, dynamodb):
    put_favorites(dynamodb, "alice", ["a1", "a2", "a3"])
    edges = graphql(client, FAVORITES, {"first": 3}, user="alice")["data"]["viewer"]["favorites"][
        "edges"
    ]
    after_first = graphql(
        client, FAVORITES, {"first": 3, "after": edges[0]["cursor"]}, user="alice"
    )
    rest = after_first["data"]["viewer"]["favorites"]["edges"]
    assert [edge["node"]["id"] for edge in rest] == [edge["node"]["id"] for edge in edges[1:]]
