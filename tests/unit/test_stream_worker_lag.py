"""The local stream worker's lag: the age of the oldest record not yet counted, to the second."""

from __future__ import annotations

import time
from datetime import UTC, datetime
from typing import Any

import pytest

from local.stream_worker import StreamWorker
from tests.support import stream_record

ARN = "arn:aws:dynamodb:us-east-1:000000000000:table/Favorites/stream/2026-01-01T00:00:00.000"


class FakeStreams:
    """One shard whose GetRecords answers are the pages queued, then nothing."""

    def __init__(self) -> None:
        self.pages: list[list[dict[str, Any]]] = []

    def describe_stream(self, **_: Any) -> dict[str, Any]:
        return {"StreamDescription": {"Shards": [{"ShardId": "shard-1"}]}}

    def get_shard_iterator(self, **_: Any) -> dict[str, Any]:
        return {"ShardIterator": "it"}

    def get_records(self, **_: Any) -> dict[str, Any]:
        records = self.pages.pop(0) if self.pages else []
        return {"Records": records, "NextShardIterator": "it"}


def as_get_records(record: dict[str, Any]) -> dict[str, Any]:
    """A Lambda-shaped record back as GetRecords returns it (a datetime record time)."""
    dynamodb = dict(record["dynamodb"])
    dynamodb["ApproximateCreationDateTime"] = datetime.fromtimestamp(
        dynamodb["ApproximateCreationDateTime"], UTC
    )
    return {**record, "dynamodb": dynamodb}


def test_a_batch_of_removals_is_timed_from_the_last_write_counted_not_its_stamped_minute():
    lags: list[float] = []
    streams = FakeStreams()
    worker = StreamWorker(
        streams=streams,  # type: ignore[arg-type]
        stream_arn=ARN,
        handler=lambda event, context: lags.append(worker.stats.lag_seconds),
    )
    now = time.time()
    # DynamoDB Local stamps records with the minute they fall in: up to 59 s early.
    stamped = now - 45
    insert = stream_record(
        "INSERT",
        user_id="u1",
        created_at=datetime.fromtimestamp(now - 0.4, UTC),
        approximate_creation=stamped,
    )
    # A removal's image tells when its favorite was made (a month ago), not removed.
    remove = stream_record(
        "REMOVE",
        user_id="u2",
        created_at=datetime.fromtimestamp(now - 30 * 86400, UTC),
        approximate_creation=stamped,
    )
    streams.pages = [[as_get_records(insert)], [as_get_records(remove)]]
    worker.poll_once()
    worker.poll_once()
    assert len(lags) == 2
    assert lags[0] == pytest.approx(time.time() - (now - 0.4), abs=0.5)
    # Written after the insert counted just before: about as old, not 45 s.
    assert lags[1] <= time.time() - (now - 0.4) + 0.01
    assert lags[1] < 2.0
