"""The stream handler's lag: true to the millisecond for live favorites, locally and in AWS."""

from __future__ import annotations

import json
import logging
from datetime import UTC, datetime

import pytest

from chalicelib.logs import JsonFormatter
from chalicelib.metrics import MetricSpace
from chalicelib.stream import handler
from chalicelib.stream.lag import lag_seconds, write_times, written_at
from chalicelib.stream.records import FavoriteEvent, parse_record
from tests.support import FAVORITES_TABLE, SpanRecorder, stream_record

# DynamoDB Local stamps records to the minute: 12:00:00 for a write at 12:00:41.250.
MINUTE = datetime(2026, 11, 23, 12, 0, tzinfo=UTC).timestamp()
WRITE = MINUTE + 41.25


def event(record: dict[str, object]) -> FavoriteEvent:
    parsed = parse_record(record)
    assert isinstance(parsed, FavoriteEvent)
    return parsed


def at(seconds: float) -> datetime:
    return datetime.fromtimestamp(seconds, UTC)


def test_a_live_insert_is_timed_by_its_own_created_at_not_the_truncated_record_time():
    insert = event(stream_record("INSERT", created_at=at(WRITE), approximate_creation=MINUTE))
    assert written_at(insert) == pytest.approx(WRITE)
    # Caught up half a second after the write: the lag says 0.5 s, not 41.75 s.
    assert lag_seconds([insert], WRITE + 0.5) == pytest.approx(0.5)


def test_a_live_insert_in_aws_where_record_times_are_to_the_second():
    insert = event(stream_record("INSERT", created_at=at(WRITE), approximate_creation=WRITE // 1))
    assert lag_seconds([insert], WRITE + 2.0) == pytest.approx(2.0)


def test_a_back_dated_insert_falls_back_to_the_record_time():
    # The simulator's --backdate writes favorites made 90 days ago: written now.
    old = at(MINUTE - 90 * 86400)
    insert = event(stream_record("INSERT", created_at=old, approximate_creation=MINUTE))
    assert written_at(insert) == MINUTE
    assert lag_seconds([insert], MINUTE + 3) == pytest.approx(3.0)


def test_a_remove_is_timed_by_its_record_its_image_tells_when_the_favorite_was_made():
    remove = event(stream_record("REMOVE", created_at=at(WRITE - 5), approximate_creation=MINUTE))
    assert written_at(remove) == MINUTE


def test_a_remove_after_a_live_insert_is_timed_no_earlier_than_that_insert():
    # Stream order is write order: the removal reached the table after the insert.
    insert = event(stream_record("INSERT", created_at=at(WRITE), approximate_creation=MINUTE))
    remove = event(
        stream_record("REMOVE", created_at=at(WRITE - 3600), approximate_creation=MINUTE)
    )
    assert write_times([insert, remove]) == [pytest.approx(WRITE), pytest.approx(WRITE)]
    # Not 41.5 s from the minute the record is stamped with.
    assert lag_seconds([insert, remove], WRITE + 0.5) == pytest.approx(0.5)


def test_a_batch_that_starts_with_a_remove_is_timed_from_the_last_write_counted_before_it():
    remove = event(
        stream_record("REMOVE", created_at=at(WRITE - 3600), approximate_creation=MINUTE)
    )
    insert = event(stream_record("INSERT", created_at=at(WRITE + 1), approximate_creation=MINUTE))
    # The previous batch of the shard ended with a write at WRITE - 0.2.
    assert lag_seconds([remove, insert], WRITE + 1.5, after=WRITE - 0.2) == pytest.approx(1.7)
    # Without it, only the record's minute is known: the lag is never understated.
    assert lag_seconds([remove, insert], WRITE + 1.5) == pytest.approx(WRITE + 1.5 - MINUTE)


def test_a_remove_stamped_later_than_the_writes_before_it_keeps_its_own_time():
    # In AWS the record time is to the second: later than an insert long before it.
    remove = event(stream_record("REMOVE", created_at=at(WRITE), approximate_creation=WRITE + 30))
    assert write_times([remove], after=WRITE) == [WRITE + 30]


def test_the_batch_lag_is_that_of_its_oldest_write():
    first = event(stream_record("INSERT", created_at=at(WRITE), approximate_creation=MINUTE))
    later = event(stream_record("INSERT", created_at=at(WRITE + 9), approximate_creation=MINUTE))
    assert lag_seconds([later, first], WRITE + 10) == pytest.approx(10.0)
    assert lag_seconds([], WRITE) == 0.0


def test_a_clock_ahead_of_the_write_never_gives_a_negative_lag():
    insert = event(stream_record("INSERT", created_at=at(WRITE), approximate_creation=MINUTE))
    assert lag_seconds([insert], WRITE - 1) == 0.0


def test_the_batch_log_line_and_the_trace_carry_the_same_lag(caplog):
    from devtools.fakes import FakeTime, MemoryTransactions, counts_writer

    record = stream_record("INSERT", created_at=at(WRITE), approximate_creation=MINUTE)
    recorder = SpanRecorder()
    with caplog.at_level(logging.INFO, logger="chalicelib"):
        handler.handle_stream_batch(
            [record],
            counts_writer(MemoryTransactions(), FakeTime()),
            FAVORITES_TABLE,
            metrics=MetricSpace.for_stage("Favorites", "dev"),
            clock=lambda: WRITE + 0.75,
            tracer=recorder,
        )
    # The line as Lambda writes it, and the metric CloudWatch extracts from it.
    logged = json.loads(JsonFormatter("dev").format(caplog.records[-1]))
    [span] = recorder.spans
    assert logged["lag_seconds"] == span["lag_seconds"] == 0.75
    metrics = logged["_aws"]["CloudWatchMetrics"][0]["Metrics"]
    assert {"Name": "lag_seconds", "Unit": "Seconds"} in metrics
