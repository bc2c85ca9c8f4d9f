"""Rankings past 100 on DynamoDB Local: paging with ``after`` is the single answer, cut in pages."""

from __future__ import annotations

from typing import Any

import pytest

from chalicelib.rankings import RankingStore
from devtools.calls import counting
from ops.reshard import reshard
from tests.support import COUNTS_TABLE, load_counts, put_counts

pytestmark = pytest.mark.integration


def page_through(store: RankingStore, bucket: str, first: int) -> list[tuple[int, str, int]]:
    rows: list[tuple[int, str, int]] = []
    after = None
    while True:
        page = store.page(bucket, first, after)
        rows += [(r.rank, r.restaurant_id, r.favorite_count) for r in page]
        if len(page) < first:
            return rows
        after = store.cursor(page[-1], bucket)


@pytest.mark.parametrize("shards", [1, 4, 16])
def test_paging_with_after_yields_the_single_ranking_with_continuous_ranks(dynamodb, shards):
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
        for first in (1, 7, 100):
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
