"""Rankings past 100: the store's pages are the single answer cut in pages, and the
API's ``after`` and ``RankingEdge.cursor`` continue it exactly, on both backends."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest

from chalicelib.favorites import Favorite, encode_cursor
from chalicelib.rankings import RankedRestaurant, RankingStore
from chalicelib.rankings import encode_cursor as ranking_cursor
from chalicelib.settings import DEV_CURSOR_SECRET
from devtools.calls import counting
from ops.reshard import reshard
from tests.support import COUNTS_TABLE, error_codes, graphql, load_counts, put_counts

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


def page_through(store: RankingStore, bucket: str, first: int) -> list[tuple[int, str, int]]:
    rows: list[tuple[int, str, int]] = []
    after = None
    while True:
        page = store.page(bucket, first, after)
        rows += [(r.rank, r.restaurant_id, r.favorite_count) for r in page]
        if len(page) < first:
            return rows
        after = store.cursor(page[-1], bucket)


# Page sizes swept. moto's Query sorts the whole index in Python on every call
# (about 25 ms here): one row at a time over 16 shards is ten thousand calls, minutes.
# AWS's engine runs the full sweep; on moto the pages are bigger, and their
# boundaries still fall inside runs of ties (about 43 restaurants per count).
PAGE_SIZES = {"dynamodb-local": (1, 7, 100), "moto": (25, 100)}


@pytest.mark.parametrize("shards", [1, 4, 16])
def test_paging_with_after_yields_the_single_ranking_with_continuous_ranks(
    dynamodb, backend, shards
):
    # 300 restaurants with counts 0..6: every page boundary falls inside a run of ties.
    truth = load_counts(dynamodb, shards=1)
    if shards != 1:
        reshard(dynamodb, COUNTS_TABLE, shards)
    store = RankingStore(dynamodb, COUNTS_TABLE, shards)
    for bucket, pairs in truth.items():
        assert len(pairs) > 100  # past where a single request can reach
        single = [(r.rank, r.restaurant_id, r.favorite_count) for r in store.top(bucket, 100)]
        expected = [(rank, r, c) for rank, (r, c) in enumerate(pairs, start=1)]
        assert single == expected[:100]
        for first in PAGE_SIZES[backend]:
            assert page_through(store, bucket, first) == expected, (bucket, first, shards)


def test_a_page_reads_what_is_below_its_cursor_never_the_rows_above(dynamodb):
    # 2,000 distinct counts: no ties, so what a page reads is exactly its own rows.
    total = 2_000
    put_counts(dynamodb, "ALL", {f"r{index:05d}": total - index for index in range(total)})
    store = RankingStore(dynamodb, COUNTS_TABLE, 1)
    reads: dict[int, int] = {}
    after = None
    for depth in range(0, 1_900, 100):
        with counting(dynamodb) as counter:
            page = store.page("ALL", 100, after)
        reads[depth] = counter.items_read
        assert page[0].rank == depth + 1
        assert page[0].restaurant_id == f"r{depth:05d}"
        after = store.cursor(page[-1], "ALL")
    # From the top: the page and one item past it. After a cursor: the cursor's own
    # item too (its run of ties), and never more however deep the page is.
    assert reads[0] == 101
    assert set(list(reads.values())[1:]) == {102}


def test_the_rest_of_a_tie_run_is_read_once_not_the_rows_above_it(dynamodb):
    # 10 leaders above 300 restaurants tied at 5, then 50 below.
    counts: dict[str, Any] = {f"lead-{index}": 100 + index for index in range(10)}
    counts |= {f"tied-{index:03d}": 5 for index in range(300)}
    counts |= {f"low-{index:02d}": 1 for index in range(50)}
    put_counts(dynamodb, "ALL", counts)
    store = RankingStore(dynamodb, COUNTS_TABLE, 1)
    first_page = store.page("ALL", 20)
    with counting(dynamodb) as counter:
        second = store.page("ALL", 20, store.cursor(first_page[-1], "ALL"))
    assert [r.restaurant_id for r in second] == [f"tied-{index:03d}" for index in range(10, 30)]
    assert [r.rank for r in second] == list(range(21, 41))
    # The tie run (300 items, filtered by id) and nothing of the 10 leaders above it.
    assert counter.items_read == 300
