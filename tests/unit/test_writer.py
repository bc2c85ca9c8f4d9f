"""The counts writer against an in-memory transaction fake: cancellations, backoff, budget."""

from __future__ import annotations

import json
import logging
from datetime import UTC, datetime
from typing import Any, cast

import pytest

from chalicelib.logs import JsonFormatter
from chalicelib.metrics import MetricSpace
from chalicelib.stream import records
from chalicelib.stream.batch import process_batch
from chalicelib.stream.handler import handle_stream_batch
from chalicelib.stream.plan import plan_chunks
from chalicelib.stream.records import FavoriteEvent
from chalicelib.stream.writer import MAX_WRITE_ATTEMPTS, CountsWriter, WriteFailed
from chalicelib.windows import format_timestamp
from devtools.fakes import NOV, FakeTime, MemoryTransactions, counts_writer
from devtools.faults import FaultyClient, conflict, invalid, throttled, timed_out
from tests.support import COUNTS_TABLE, FAVORITES_TABLE, SpanRecorder, stream_record


def events(count: int, restaurant: str | None = None) -> list[FavoriteEvent]:
    return [
        FavoriteEvent(f"e{i}", str(1000 + i), restaurant or f"r{i:03d}", f"u{i}", NOV, 1)
        for i in range(count)
    ]


def test_existing_markers_are_dropped_and_the_rest_written_once():
    memory = MemoryTransactions()
    clock = FakeTime()
    first = events(3, "r1")
    counts_writer(memory, clock).write(plan_chunks(first[:2])[0])
    outcome = counts_writer(memory, clock).write(plan_chunks(first)[0])
    assert (outcome.applied, outcome.duplicates, outcome.retries) == (1, 2, 0)
    assert memory.counts()[("r1", "ALL")] == 3
    assert clock.sleeps == []  # duplicates are not a reason to wait


def test_a_chunk_of_only_duplicates_writes_nothing():
    memory = MemoryTransactions()
    chunk = plan_chunks(events(4))[0]
    counts_writer(memory, FakeTime()).write(chunk)
    outcome = counts_writer(memory, FakeTime()).write(chunk)
    assert (outcome.applied, outcome.duplicates) == (0, 4)
    assert memory.counts()[("r000", "ALL")] == 1


@pytest.mark.parametrize("fault", [conflict, throttled, timed_out])
def test_transient_failures_are_retried_with_backoff(fault):
    memory = MemoryTransactions()
    client = FaultyClient(memory, before={1: fault, 2: fault})
    clock = FakeTime()
    outcome = counts_writer(client, clock).write(plan_chunks(events(3))[0])
    assert (outcome.applied, outcome.retries) == (3, 2)
    assert clock.sleeps == pytest.approx([0.05, 0.1])  # exponential (rng pinned to 1.0)
    assert memory.counts()[("r002", "ALL")] == 1


def test_a_timeout_after_the_commit_is_retried_and_counted_once():
    memory = MemoryTransactions()
    client = FaultyClient(memory, after={1: timed_out})
    outcome = counts_writer(client, FakeTime()).write(plan_chunks(events(2, "r1"))[0])
    assert (outcome.applied, outcome.duplicates, outcome.retries) == (0, 2, 1)
    assert memory.counts()[("r1", "ALL")] == 2


def test_a_permanent_failure_raises_at_once_and_writes_nothing():
    memory = MemoryTransactions()
    clock = FakeTime()
    with pytest.raises(WriteFailed, match="ValidationException"):
        counts_writer(FaultyClient(memory, before={1: invalid}), clock).write(
            plan_chunks(events(2))[0]
        )
    assert memory.items == {}
    assert clock.sleeps == []


def test_the_writer_gives_up_within_its_budget_and_reports_the_failure():
    memory = MemoryTransactions()
    client = FaultyClient(memory, every=throttled)
    clock = FakeTime()
    with pytest.raises(WriteFailed, match="ThrottlingException"):
        counts_writer(client, clock, budget=3.0).write(plan_chunks(events(2))[0])
    assert clock.now <= 3.0
    assert sum(clock.sleeps) <= 3.0
    assert len(clock.sleeps) >= 3  # it did back off before giving up
    assert client.calls == len(clock.sleeps) + 1
    assert memory.items == {}


def test_a_stalled_clock_still_stops_after_a_bounded_number_of_attempts():
    client = FaultyClient(MemoryTransactions(), every=conflict)
    stalled = CountsWriter(
        cast(Any, client),
        COUNTS_TABLE,
        shards=1,
        day_retention_days=90,
        marker_ttl_seconds=172800,
        budget_seconds=20,
        monotonic=lambda: 0.0,
        sleep=lambda _: None,
    )
    with pytest.raises(WriteFailed):
        stalled.write(plan_chunks(events(1))[0])
    assert client.calls == MAX_WRITE_ATTEMPTS


def test_the_budget_is_shared_by_every_chunk_of_a_batch():
    # 60 restaurants on one day: three chunks (25 + 25 + 10 events).
    records = [stream_record("INSERT", f"r{i:02d}", "u1", NOV) for i in range(60)]
    memory = MemoryTransactions()
    # Each chunk alone would fit in the budget (five throttles: 1.55 s of
    # backoff, then success); together they do not, so the second chunk fails.
    throttles = [*range(1, 6), *range(7, 12)]
    client = FaultyClient(memory, before=dict.fromkeys(throttles, throttled))
    clock = FakeTime()
    report = process_batch(
        records, counts_writer(client, clock, budget=3.0), favorites_table=FAVORITES_TABLE, now=0.0
    )
    assert report.applied == 25
    assert report.failed_sequence_number == records[25]["dynamodb"]["SequenceNumber"]
    assert clock.now <= 3.0
    assert report.response() == {
        "batchItemFailures": [{"itemIdentifier": records[25]["dynamodb"]["SequenceNumber"]}]
    }


def test_the_invocations_remaining_time_caps_the_budget():
    clock = FakeTime()
    capped = counts_writer(MemoryTransactions(), clock, budget=20.0)
    assert capped.deadline() == 20.0
    assert capped.deadline(remaining_seconds=10.0) == 5.0
    assert capped.deadline(remaining_seconds=100.0) == 20.0


def test_a_record_repeated_within_a_batch_counts_once():
    record = stream_record("INSERT", "r1", "u1", NOV)
    memory = MemoryTransactions()
    report = process_batch(
        [record, record, stream_record("INSERT", "r1", "u2", NOV)],
        counts_writer(memory, FakeTime()),
        favorites_table=FAVORITES_TABLE,
        now=0.0,
    )
    assert (report.applied, report.duplicates, report.failed_sequence_number) == (2, 1, None)
    assert memory.counts()[("r1", "ALL")] == 2


def test_the_handler_reports_its_work_in_annotations_and_one_json_log_line(caplog):
    memory = MemoryTransactions()
    applied = stream_record("INSERT", "r1", "u1", NOV, approximate_creation=1000.0)
    counts_writer(memory, FakeTime()).write(plan_chunks([records.parse_record(applied)])[0])  # type: ignore[list-item]
    batch = [
        applied,
        stream_record("INSERT", "r1", "u2", NOV, approximate_creation=1010.0),
        stream_record("REMOVE", "r1", "u3", created_at="garbage"),
    ]
    client = FaultyClient(memory, before={1: conflict})
    space = MetricSpace.for_stage("Favorites", "dev")
    recorder = SpanRecorder()
    with caplog.at_level(logging.INFO, logger="chalicelib"):
        response = handle_stream_batch(
            batch,
            counts_writer(client, FakeTime()),
            FAVORITES_TABLE,
            metrics=space,
            clock=lambda: 1030.0,
            tracer=recorder,
        )
    assert response == {"batchItemFailures": []}
    [annotations] = recorder.spans
    assert annotations["name"] == "aggregate_favorites"
    expected = {"records": 3, "applied": 1, "duplicates": 1, "skipped": 1, "retries": 1}
    assert {key: annotations[key] for key in expected} == expected
    assert annotations["lag_seconds"] == 30.0
    infos = [r for r in caplog.records if r.levelno == logging.INFO]
    assert len(infos) == 1
    # The line as Lambda writes it: one JSON object, metrics block at the root.
    logged = json.loads(JsonFormatter("dev").format(infos[0]))
    assert logged["message"] == "favorites stream batch"
    assert {key: logged[key] for key in expected} == expected
    assert logged["lag_seconds"] == 30.0
    assert logged["failed"] == 0
    assert logged["poison_event_ids"] == [batch[2]["eventID"]]
    (directive,) = logged["_aws"]["CloudWatchMetrics"]
    assert directive["Namespace"] == "Favorites"
    assert logged["Stage"] == "dev"
    assert logged["_aws"]["Timestamp"] == 1030_000


def test_a_remove_past_day_retention_writes_all_and_month_but_no_day_update():
    hundred_days_ago = datetime.fromtimestamp(NOV.timestamp() - 100 * 86400, UTC)
    removed = FavoriteEvent("e1", "1001", "r1", "u1", hundred_days_ago, -1)
    plain = CountsWriter(
        cast(Any, MemoryTransactions()),
        COUNTS_TABLE,
        shards=1,
        day_retention_days=35,
        marker_ttl_seconds=172800,
        budget_seconds=5.0,
        clock=NOV.timestamp,
    )
    actions = cast(list[dict[str, Any]], plain.actions([removed]))
    updated = [action["Update"]["Key"]["bucket"]["S"] for action in actions if "Update" in action]
    assert updated == ["ALL", f"MONTH#{hundred_days_ago:%Y-%m}"]
    assert [action["Put"]["Item"]["bucket"]["S"] for action in actions if "Put" in action] == [
        "MARKER"
    ]
    # Inside retention the day is written as before.
    recent = FavoriteEvent("e2", "1002", "r1", "u1", NOV, -1)
    assert len([action for action in plain.actions([recent]) if "Update" in action]) == 3


def test_the_batch_report_counts_events_past_day_retention():
    memory = MemoryTransactions()
    old = format_timestamp(datetime.fromtimestamp(NOV.timestamp() - 100 * 86400, UTC))
    records = [stream_record("REMOVE", "r1", "u1", old), stream_record("INSERT", "r2", "u2", NOV)]
    report = process_batch(
        records,
        counts_writer(memory, FakeTime()),
        favorites_table=FAVORITES_TABLE,
        now=NOV.timestamp(),
    )
    # 90 days' retention: the REMOVE's day is past it, the INSERT's is today.
    assert (report.applied, report.past_retention) == (2, 1)
    assert [bucket for restaurant, bucket in memory.counts() if restaurant == "r1"] == [
        "ALL",
        f"MONTH#{old[:7]}",
    ]
    assert report.annotations()["past_retention"] == 1
