"""The event source mapping's filters, run on real stream records by a matcher
of Lambda's filter language that this project did not write (moto's
implementation of the EventBridge pattern language, which Lambda's event
filtering uses)."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any, cast

from moto.events.models import EventPattern

from infra.template import STREAM_FILTERS
from tests.support import FAVORITES_TABLE


def _passes(record: dict[str, Any]) -> bool:
    # Lambda keeps a record that matches any one of the mapping's filters.
    return any(
        EventPattern.load(pattern).matches_event(cast(Any, record)) for pattern in STREAM_FILTERS
    )


def test_filters_keep_every_insert_and_remove_and_drop_every_modify(
    dynamodb: Any, stream_records: Callable[[], list[dict[str, Any]]]
) -> None:
    def put(restaurant: str, user: str, created_at: str) -> None:
        dynamodb.put_item(
            TableName=FAVORITES_TABLE,
            Item={
                "restaurant_id": {"S": restaurant},
                "user_id": {"S": user},
                "created_at": {"S": created_at},
            },
        )

    for n in range(3):
        put(f"r{n}", "alice", f"2026-11-2{n}T10:00:00.000Z")  # INSERT
    put("r0", "alice", "2026-11-24T09:00:00.000Z")  # same key, new value: MODIFY
    put("r1", "alice", "2026-11-21T10:00:00.000Z")  # same value again: no record
    dynamodb.delete_item(  # REMOVE
        TableName=FAVORITES_TABLE, Key={"restaurant_id": {"S": "r2"}, "user_id": {"S": "alice"}}
    )
    put("r2", "bob", "2026-11-24T11:00:00.000Z")  # INSERT

    records = stream_records()
    names = [record["eventName"] for record in records]
    assert names == ["INSERT", "INSERT", "INSERT", "MODIFY", "REMOVE", "INSERT"]
    passed = [record["eventName"] for record in records if _passes(record)]
    assert passed == ["INSERT", "INSERT", "INSERT", "REMOVE", "INSERT"]


def test_filters_name_only_the_dynamodb_key_and_would_catch_a_regression(
    dynamodb: Any, stream_records: Callable[[], list[dict[str, Any]]]
) -> None:
    for pattern in STREAM_FILTERS:
        assert set(json.loads(pattern)) == {"dynamodb"}
    dynamodb.put_item(
        TableName=FAVORITES_TABLE,
        Item={
            "restaurant_id": {"S": "r"},
            "user_id": {"S": "u"},
            "created_at": {"S": "2026-11-24T10:00:00.000Z"},
        },
    )
    (record,) = stream_records()
    assert _passes(record)
    # The matcher really reads the images: an intermediate-node `exists`
    # (which the pattern language does not support) would match nothing.
    intermediate = {"dynamodb": {"NewImage": [{"exists": True}]}}
    assert not EventPattern.load(json.dumps(intermediate)).matches_event(cast(Any, record))
