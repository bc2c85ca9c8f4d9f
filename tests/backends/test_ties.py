"""Ties at the top-k boundary: exact while they fit the read limit, bounded past it."""

from __future__ import annotations

import logging
import random
from typing import Any

from chalicelib.rankings import RankingStore
from chalicelib.settings import DEFAULT_RANKING_TIE_READ_LIMIT
from chalicelib.sharding import rank_partition
from devtools.calls import counting
from tests.support import COUNTS_TABLE

TIED = 1500
LEADERS = {"lead-a": 5, "lead-b": 4, "lead-c": 3}


def store(
    client: Any, shards: int, tie_read_limit: int = DEFAULT_RANKING_TIE_READ_LIMIT
) -> RankingStore:
    """A store over the real client (counted with ``devtools.calls.counting``)."""
    return RankingStore(client, COUNTS_TABLE, shards, tie_read_limit=tie_read_limit)


def load(client: Any, shards: int) -> list[str]:
    """1,500 restaurants at count 1 (written in random order) and three above; the tied ids."""
    tied = [f"tied-{index:04d}" for index in range(TIED)]
    counts = {**dict.fromkeys(tied, 1), **LEADERS}
    ids = list(counts)
    random.Random(7).shuffle(ids)
    items = [
        {
            "restaurant_id": {"S": restaurant},
            "bucket": {"S": "ALL"},
            "favorite_count": {"N": str(counts[restaurant])},
            "rank_partition": {"S": rank_partition("ALL", restaurant, shards)},
        }
        for restaurant in ids
    ]
    for start in range(0, len(items), 25):
        requests = [{"PutRequest": {"Item": item}} for item in items[start : start + 25]]
        client.batch_write_item(RequestItems={COUNTS_TABLE: requests})
    return tied


def limit_logs(caplog: Any) -> list[logging.LogRecord]:
    """The store's own records (another tier's X-Ray patching may log around them)."""
    return [record for record in caplog.records if record.name == "chalicelib.rankings"]


def check_bounded_answer(ranked: list[Any], tied: list[str]) -> None:
    """Ten rows, the right counts, the leaders first; tied rows distinct and ordered by id."""
    assert [r.rank for r in ranked] == list(range(1, 11))
    assert [r.favorite_count for r in ranked] == [5, 4, 3] + [1] * 7
    assert [r.restaurant_id for r in ranked[:3]] == list(LEADERS)
    rest = [r.restaurant_id for r in ranked[3:]]
    assert rest == sorted(set(rest))
    assert set(rest) <= set(tied)


def test_the_tie_read_stops_at_the_limit_and_still_answers_ten_rows(dynamodb, backend, caplog):
    tied = load(dynamodb, shards=1)
    caplog.set_level(logging.INFO, logger="chalicelib.rankings")

    with counting(dynamodb, read_units=True) as unbounded:
        exact = store(dynamodb, 1, tie_read_limit=1_000_000).top("ALL", 10)
    assert [(r.restaurant_id, r.favorite_count) for r in exact] == [
        *LEADERS.items(),
        *((restaurant, 1) for restaurant in tied[:7]),
    ]
    assert unbounded.items_read == TIED + len(LEADERS) + 8  # 11, then every tie
    assert limit_logs(caplog) == []

    cap = DEFAULT_RANKING_TIE_READ_LIMIT
    with counting(dynamodb, read_units=True) as bounded:
        ranked = store(dynamodb, 1).top("ALL", 10)
    assert bounded.items_read <= cap + 10 + 1
    assert bounded.calls == {"Query": 2}
    if backend == "dynamodb-local":  # moto reports a fixed ConsumedCapacity, whatever is read
        assert bounded.read_units < unbounded.read_units
    check_bounded_answer(ranked, tied)
    [record] = limit_logs(caplog)
    assert record.levelno == logging.INFO
    assert "ALL" in record.getMessage()
    assert f"RANKING_TIE_READ_LIMIT={cap}" in record.getMessage()


def test_each_shard_reads_at_most_the_limit_plus_first_plus_one(dynamodb, caplog):
    shards, cap = 4, 50
    tied = load(dynamodb, shards)
    caplog.set_level(logging.INFO, logger="chalicelib.rankings")
    with counting(dynamodb) as counter:
        ranked = store(dynamodb, shards, tie_read_limit=cap).top("ALL", 10)
    assert counter.items_read <= shards * (cap + 10 + 1)
    check_bounded_answer(ranked, tied)
    assert len(limit_logs(caplog)) == 1  # once per call, however many shards were cut


def test_a_limit_smaller_than_first_still_fills_the_page(dynamodb):
    tied = load(dynamodb, shards=1)
    with counting(dynamodb) as counter:
        ranked = store(dynamodb, 1, tie_read_limit=1).top("ALL", 10)
    assert counter.items_read <= 1 + 10 + 1
    check_bounded_answer(ranked, tied)


def test_ties_within_the_limit_are_exact_and_not_logged(dynamodb, caplog):
    tied = load(dynamodb, shards=1)
    caplog.set_level(logging.INFO, logger="chalicelib.rankings")
    ranked = store(dynamodb, 1, tie_read_limit=TIED).top("ALL", 10)
    assert [r.restaurant_id for r in ranked[3:]] == tied[:7]
    # Exactly TIED ties read: the page may end at the limit, so this can log; one more cannot.
    caplog.clear()
    ranked = store(dynamodb, 1, tie_read_limit=TIED + 1).top("ALL", 10)
    assert [r.restaurant_id for r in ranked[3:]] == tied[:7]
    assert limit_logs(caplog) == []
