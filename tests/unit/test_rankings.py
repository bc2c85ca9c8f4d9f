"""RankingStore's reads against a fake index: the tie read stops at its limit."""

from __future__ import annotations

import logging
from typing import Any

import pytest

from chalicelib.rankings import RankingStore
from chalicelib.services import Services
from chalicelib.settings import from_env


class FakeIndex:
    """Answers ``by_count`` queries from a list, ``page_size`` items a page at most."""

    def __init__(self, counts: dict[str, int], page_size: int) -> None:
        # Equal counts in no particular order, as the index keeps them.
        self.items = sorted(counts.items(), key=lambda pair: (-pair[1], pair[0][::-1]))
        self.page_size = page_size
        self.calls: list[dict[str, Any]] = []

    def query(self, **params: Any) -> dict[str, Any]:
        self.calls.append(params)
        values = params["ExpressionAttributeValues"]
        if ":boundary" in values:
            wanted = [p for p in self.items if p[1] == int(values[":boundary"]["N"])]
        else:
            wanted = [p for p in self.items if p[1] > int(values[":zero"]["N"])]
        start = params.get("ExclusiveStartKey", {}).get("at", 0)
        end = min(start + params["Limit"], start + self.page_size, len(wanted))
        response: dict[str, Any] = {
            "Items": [
                {"restaurant_id": {"S": r}, "favorite_count": {"N": str(c)}}
                for r, c in wanted[start:end]
            ]
        }
        if end < len(wanted) or end - start == params["Limit"]:
            response["LastEvaluatedKey"] = {"at": end}
        return response


def counts(tied: int) -> dict[str, int]:
    return {"top": 9, **{f"t{index:04d}": 2 for index in range(tied)}, "low": 1}


def test_ties_are_read_across_pages_up_to_the_limit_and_no_further(caplog):
    caplog.set_level(logging.INFO, logger="chalicelib.rankings")
    index = FakeIndex(counts(tied=500), page_size=30)
    ranked = RankingStore(index, "counts", 1, tie_read_limit=100).top("ALL", 5)  # type: ignore[arg-type]
    tie_reads = [call for call in index.calls if ":boundary" in call["ExpressionAttributeValues"]]
    assert [call["Limit"] for call in tie_reads] == [100, 70, 40, 10]  # 30 + 30 + 30 + 10 read
    assert [r.favorite_count for r in ranked] == [9, 2, 2, 2, 2]
    tied_ids = [r.restaurant_id for r in ranked[1:]]
    assert tied_ids == sorted(set(tied_ids))
    assert "RANKING_TIE_READ_LIMIT=100" in caplog.text


def test_all_ties_within_the_limit_give_the_exact_answer(caplog):
    caplog.set_level(logging.INFO, logger="chalicelib.rankings")
    index = FakeIndex(counts(tied=500), page_size=30)
    ranked = RankingStore(index, "counts", 1, tie_read_limit=1000).top("ALL", 5)  # type: ignore[arg-type]
    assert [r.restaurant_id for r in ranked] == ["top", "t0000", "t0001", "t0002", "t0003"]
    assert [r for r in caplog.records if r.name == "chalicelib.rankings"] == []


def test_no_tie_read_when_the_boundary_does_not_tie():
    index = FakeIndex({"a": 5, "b": 4, "c": 3}, page_size=30)
    ranked = RankingStore(index, "counts", 1).top("ALL", 2)  # type: ignore[arg-type]
    assert [r.restaurant_id for r in ranked] == ["a", "b"]
    assert len(index.calls) == 1


def test_the_service_store_takes_its_limit_from_the_settings(caplog):
    caplog.set_level(logging.INFO, logger="chalicelib.rankings")
    index = FakeIndex(counts(tied=500), page_size=500)
    settings = from_env({"RANKING_TIE_READ_LIMIT": "42"})
    Services(settings, dynamodb=index).rankings().top("ALL", 5)  # type: ignore[arg-type]
    tie_reads = [call for call in index.calls if ":boundary" in call["ExpressionAttributeValues"]]
    assert [call["Limit"] for call in tie_reads] == [42]
    assert "RANKING_TIE_READ_LIMIT=42" in caplog.text
    with pytest.raises(ValueError, match="tie_read_limit"):
        RankingStore(FakeIndex({}, 1), "counts", 1, tie_read_limit=0)  # type: ignore[arg-type]
