"""batch_get against a fake BatchGetItem: chunks of 100, unprocessed keys asked again."""

from __future__ import annotations

import random
from typing import Any

import pytest

from chalicelib.batch import (
    MAX_ATTEMPTS,
    MAX_DELAY_SECONDS,
    MAX_KEYS_PER_CALL,
    BatchReadIncomplete,
    backoff,
    batch_get,
)


def key(restaurant: str) -> dict[str, dict[str, str]]:
    return {"restaurant_id": {"S": restaurant}, "user_id": {"S": "alice"}}


class FakeBatchGet:
    """Holds ``existing`` ids; leaves the last ``unprocessed[i]`` keys of call i unprocessed."""

    def __init__(self, existing: set[str], unprocessed: list[int] | None = None) -> None:
        self.existing = existing
        self.unprocessed = list(unprocessed or [])
        self.requests: list[dict[str, Any]] = []

    def __call__(self, request: dict[str, Any]) -> dict[str, Any]:
        self.requests.append(request)
        [(table, asked)] = request["RequestItems"].items()
        keys = asked["Keys"]
        assert len(keys) <= MAX_KEYS_PER_CALL
        left = self.unprocessed.pop(0) if self.unprocessed else 0
        done, rest = keys[: len(keys) - left], keys[len(keys) - left :]
        response: dict[str, Any] = {
            "Responses": {
                table: [
                    {"restaurant_id": k["restaurant_id"]}
                    for k in done
                    if k["restaurant_id"]["S"] in self.existing
                ]
            },
            "UnprocessedKeys": {},
        }
        if rest:
            response["UnprocessedKeys"] = {table: {**asked, "Keys": rest}}
        return response


def ids_of(items: list[dict[str, Any]]) -> set[str]:
    return {item["restaurant_id"]["S"] for item in items}


def test_keys_go_in_calls_of_at_most_100_and_each_key_once():
    ids = [f"r{index}" for index in range(250)]
    fake = FakeBatchGet(existing=set(ids[::3]))
    items = batch_get(fake, "t", [key(r) for r in ids + ids[:40]], projection="restaurant_id")
    assert ids_of(items) == set(ids[::3])
    assert [len(r["RequestItems"]["t"]["Keys"]) for r in fake.requests] == [100, 100, 50]
    assert all(
        r["RequestItems"]["t"]["ProjectionExpression"] == "restaurant_id" for r in fake.requests
    )


def test_unprocessed_keys_are_asked_again_after_a_growing_pause():
    ids = [f"r{index}" for index in range(100)]
    fake = FakeBatchGet(existing=set(ids), unprocessed=[60, 30, 5])
    pauses: list[float] = []
    items = batch_get(
        fake,
        "t",
        [key(r) for r in ids],
        projection="restaurant_id",
        consistent=True,
        sleep=pauses.append,
        rng=random.Random(1),
    )
    assert ids_of(items) == set(ids)  # nothing lost
    assert [len(r["RequestItems"]["t"]["Keys"]) for r in fake.requests] == [100, 60, 30, 5]
    # The retries keep the read's settings (they come back with the unprocessed keys).
    assert all(r["RequestItems"]["t"]["ConsistentRead"] is True for r in fake.requests)
    assert len(pauses) == 3
    assert all(0 <= pause <= MAX_DELAY_SECONDS for pause in pauses)


def test_backoff_grows_with_full_jitter_up_to_its_cap():
    rng = random.Random(3)
    means = [sum(backoff(attempt, rng) for _ in range(2000)) / 2000 for attempt in range(8)]
    assert means[0] < means[2] < means[4]
    assert max(backoff(20, rng) for _ in range(100)) <= MAX_DELAY_SECONDS


def test_keys_still_unprocessed_after_every_attempt_are_an_error_not_an_empty_answer():
    fake = FakeBatchGet(existing={"r1"}, unprocessed=[1] * MAX_ATTEMPTS)
    with pytest.raises(BatchReadIncomplete, match="1 keys still unprocessed"):
        batch_get(fake, "t", [key("r1")], projection="restaurant_id", sleep=lambda _: None)
    assert len(fake.requests) == MAX_ATTEMPTS


def test_no_keys_no_call():
    fake = FakeBatchGet(existing=set())
    assert batch_get(fake, "t", [], projection="restaurant_id") == []
    assert fake.requests == []
