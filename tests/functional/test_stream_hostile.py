"""Hostile stream batches: bad records are skipped with a log line and counted, the rest applied."""

from __future__ import annotations

import logging
from datetime import UTC, datetime
from typing import Any

import pytest

from chalicelib.counts import MARKER_PREFIX
from tests.support import COUNTS_TABLE, SpanRecorder, stream_event, stream_record

NOV = datetime(2026, 11, 23, 10, 0, tzinfo=UTC)
OTHER_TABLE = "arn:aws:dynamodb:us-east-1:123456789012:table/orders/stream/2026-11-01T00:00:00.000"


def all_time_counts(dynamodb: Any) -> dict[str, int]:
    return {
        item["restaurant_id"]["S"]: int(item["favorite_count"]["N"])
        for item in dynamodb.scan(TableName=COUNTS_TABLE)["Items"]
        if not item["restaurant_id"]["S"].startswith(MARKER_PREFIX) and item["bucket"]["S"] == "ALL"
    }


@pytest.fixture
def spans(serve) -> list[dict[str, Any]]:
    recorder = SpanRecorder()
    serve(tracer=recorder)
    return recorder.spans


def with_event_name(name: Any) -> dict[str, Any]:
    record = stream_record("INSERT", "bad", "u1", NOV)
    record["eventName"] = name
    return record


def with_dynamodb(value: Any) -> dict[str, Any]:
    record = stream_record("INSERT", "bad", "u1", NOV)
    record["dynamodb"] = value
    return record


HOSTILE = [
    ("other table", stream_record("INSERT", "bad", "u1", NOV, stream_arn=OTHER_TABLE), False),
    ("unknown event DELETE", with_event_name("DELETE"), False),
    ("event name null", with_event_name(None), False),
    ("event name a number", with_event_name(7), False),
    (
        "restaurant_id a number",
        stream_record("INSERT", new_image={"restaurant_id": {"N": "5"}, "user_id": {"S": "u1"}}),
        True,
    ),
    (
        "user_id not a string",
        stream_record("INSERT", new_image={"restaurant_id": {"S": "bad"}, "user_id": {"S": 5}}),
        True,
    ),
    (
        "created_at a number on REMOVE",
        stream_record(
            "REMOVE",
            old_image={
                "restaurant_id": {"S": "bad"},
                "user_id": {"S": "u1"},
                "created_at": {"N": "1795000000"},
            },
        ),
        True,
    ),
    ("image a list", stream_record("INSERT", new_image=[1, 2]), True),  # type: ignore[arg-type]
    ("dynamodb a string", with_dynamodb("nope"), True),
    ("record a string", "not a record", True),
    ("record null", None, True),
    ("oversized restaurant id", stream_record("INSERT", "r" * 10_000, "u1", NOV), True),
    ("oversized user id", stream_record("INSERT", "bad", "u" * 10_000, NOV), True),
]


@pytest.mark.parametrize("case", HOSTILE, ids=[h[0] for h in HOSTILE])
def test_a_hostile_record_is_skipped_logged_and_counted_and_the_rest_applied(
    client, dynamodb, spans, caplog, case
):
    label, record, poison = case
    batch = [
        stream_record("INSERT", "r1", "u1", NOV),
        record,
        stream_record("INSERT", "r2", "u2", NOV),
    ]
    with caplog.at_level(logging.INFO, logger="chalicelib.stream"):
        response = client.lambda_.invoke("aggregate_favorites", stream_event(batch)).payload
    assert response == {"batchItemFailures": []}, label
    assert all_time_counts(dynamodb) == {"r1": 1, "r2": 1}, label
    [span] = [s for s in spans if s["name"] == "aggregate_favorites"]
    assert (span["records"], span["applied"], span["skipped"]) == (3, 2, 1), label
    assert span["poison"] == (1 if poison else 0), label
    [skip_line] = [r for r in caplog.records if "skipping" in r.getMessage()]
    assert skip_line.levelno == (logging.WARNING if poison else logging.INFO), label


def test_an_oversized_batch_is_applied_in_full_across_many_transactions(client, dynamodb, spans):
    # The function is configured for 100 records; a bigger batch (a changed
    # event source mapping, a replay tool) must still be applied in full.
    records = [stream_record("INSERT", f"r{i % 7}", f"u{i}", NOV) for i in range(250)]
    records.insert(125, with_event_name("DELETE"))
    response = client.lambda_.invoke("aggregate_favorites", stream_event(records)).payload
    assert response == {"batchItemFailures": []}
    counts = all_time_counts(dynamodb)
    assert sum(counts.values()) == 250
    assert counts["r0"] == 36
    [span] = [s for s in spans if s["name"] == "aggregate_favorites"]
    assert (span["applied"], span["skipped"]) == (250, 1)
    assert span["chunks"] >= 3
