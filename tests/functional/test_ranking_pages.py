"""Rankings past 100 through the API, on moto: ``after`` and ``RankingEdge.cursor``."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest

from chalicelib.favorites import Favorite, encode_cursor
from chalicelib.rankings import RankedRestaurant
from chalicelib.rankings import encode_cursor as ranking_cursor
from chalicelib.settings import DEV_CURSOR_SECRET
from tests.support import error_codes, graphql, put_counts

PAGE = """
query P($window: TimeWindow!, $period: String, $first: Int!, $after: String) {
  topRestaurants(window: $window, period: $period, first: $first, after: $after) {
    edges { rank favoriteCount cursor node { id favoriteCount } }
  }
}
"""
# 250 restaurants, counts 1..9 (ties everywhere).
COUNTS = {f"r{index:03d}": 1 + (index * 7) % 9 for index in range(250)}
ORDER = sorted(COUNTS, key=lambda r: (-COUNTS[r], r))


def page(client: Any, first: int, after: str | None = None, **where: Any) -> list[dict[str, Any]]:
    variables = {"window": "ALL_TIME", "period": None, **where, "first": first, "after": after}
    result = graphql(client, PAGE, variables, public=True)
    assert "errors" not in result, result
    return list(result["data"]["topRestaurants"]["edges"])


@pytest.mark.parametrize("shards", [1, 3])
def test_paging_with_after_continues_the_ranking_exactly(client, dynamodb, serve, shards):
    serve(RANKING_SHARDS=str(shards))
    put_counts(dynamodb, "ALL", COUNTS, shards=shards)
    rows: list[dict[str, Any]] = []
    after = None
    while True:
        rows_page = page(client, 40, after)
        rows += rows_page
        if len(rows_page) < 40:
            break
        after = rows_page[-1]["cursor"]
    assert [row["node"]["id"] for row in rows] == ORDER
    assert [row["rank"] for row in rows] == list(range(1, len(ORDER) + 1))
    assert [row["favoriteCount"] for row in rows] == [COUNTS[r] for r in ORDER]
    assert all(row["node"]["favoriteCount"] == row["favoriteCount"] for row in rows)
    # The first 100 in one request are the first 100 of the pages.
    single = page(client, 100)
    assert [row["node"]["id"] for row in single] == ORDER[:100]
    # Past the end: an empty page, not an error.
    assert page(client, 10, rows[-1]["cursor"]) == []


def test_a_cursor_from_another_window_or_period_or_forged_is_bad_user_input(client, dynamodb):
    month = f"{datetime.now(UTC):%Y-%m}"
    put_counts(dynamodb, "ALL", {"a": 3, "b": 2, "c": 1})
    put_counts(dynamodb, f"MONTH#{month}", {"a": 1, "b": 1})
    put_counts(dynamodb, "MONTH#2026-01", {"a": 1, "b": 1})
    all_time = page(client, 1)[0]["cursor"]
    this_month = page(client, 1, window="MONTH")[0]["cursor"]
    assert [r["node"]["id"] for r in page(client, 5, this_month, window="MONTH")] == ["b"]

    body, tag = all_time.split(".")
    forged_row = RankedRestaurant(rank=1, restaurant_id="a", favorite_count=3)
    cases = [
        # Another window, another period of the same window, the same period named.
        (all_time, {"window": "MONTH"}),
        (this_month, {"window": "ALL_TIME"}),
        (this_month, {"window": "MONTH", "period": "2026-01"}),
        (this_month, {"window": "DAY"}),
        # Edited, truncated, signed with another key, or a favorites cursor.
        (f"{body}x.{tag}", {}),
        (f"{body}.{tag[::-1]}", {}),
        (body, {}),
        ("", {}),
        ("x" * 600, {}),
        (ranking_cursor(forged_row, "ALL", b"not-the-key"), {}),
        (encode_cursor(Favorite("a", datetime.now(UTC)), "ALL", DEV_CURSOR_SECRET.encode()), {}),
    ]
    for cursor, where in cases:
        variables = {"window": "ALL_TIME", "period": None, "first": 5, "after": cursor, **where}
        result = graphql(client, PAGE, variables, public=True)
        assert error_codes(result) == ["BAD_USER_INPUT"], (cursor, where)
        assert result["errors"][0]["message"] == (
            "after is not a cursor this API returned for this window and period"
        )
    # The same period named explicitly is the same ranking: its cursor works.
    named = page(client, 5, this_month, window="MONTH", period=month)
    assert [r["node"]["id"] for r in named] == ["b"]


def test_ranking_cursors_work_on_both_routes_and_for_every_viewer(client, dynamodb):
    put_counts(dynamodb, "ALL", {"a": 3, "b": 2, "c": 1})
    cursor = page(client, 1)[0]["cursor"]
    variables = {"window": "ALL_TIME", "period": None, "first": 5, "after": cursor}
    for who in ({"user": "alice"}, {"user": "bob"}, {"public": True}):
        result = graphql(client, PAGE, variables, **who)
        edges = result["data"]["topRestaurants"]["edges"]
        assert [r["node"]["id"] for r in edges] == ["b", "c"]
        assert [r["rank"] for r in edges] == [2, 3]
