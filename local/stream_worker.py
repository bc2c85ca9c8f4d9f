"""Feed the favorites table's stream to the stream handler, the way Lambda does.

``chalice local`` never runs event sources, so locally this worker polls the
stream (DynamoDB Local's, or any endpoint's) and invokes the very same
``aggregate_favorites`` handler with Lambda-shaped batches: up to
``batch_size`` records per shard, a short batching window, a checkpoint per
shard, and redelivery from the record a ``batchItemFailures`` answer names.
"""

from __future__ import annotations

import json
import logging
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from chalicelib import aggregation

if TYPE_CHECKING:
    from mypy_boto3_dynamodbstreams import DynamoDBStreamsClient

logger = logging.getLogger(__name__)

Handler = Callable[[dict[str, Any], Any], Any]


def lambda_record(record: Mapping[str, Any], stream_arn: str, region: str) -> dict[str, Any]:
    """A GetRecords record as Lambda hands it to a function."""
    dynamodb = dict(record["dynamodb"])
    created = dynamodb.get("ApproximateCreationDateTime")
    if isinstance(created, datetime):
        dynamodb["ApproximateCreationDateTime"] = created.timestamp()
    shaped: dict[str, Any] = {
        "eventID": record["eventID"],
        "eventName": record["eventName"],
        "eventVersion": record.get("eventVersion", "1.1"),
        "eventSource": "aws:dynamodb",
        "awsRegion": record.get("awsRegion", region),
        "dynamodb": dynamodb,
        "eventSourceARN": stream_arn,
    }
    if "userIdentity" in record:
        shaped["userIdentity"] = record["userIdentity"]
    return shaped


@dataclass
class LambdaContext:
    function_name: str = "aggregate_favorites"
    aws_request_id: str = "local"
    memory_limit_in_mb: int = 512

    def get_remaining_time_in_millis(self) -> int:
        return 60_000


@dataclass
class _Shard:
    shard_id: str
    iterator: str | None = None
    closed: bool = False


@dataclass
class WorkerStats:
    batches: int = 0
    records: int = 0
    redeliveries: int = 0
    errors: int = 0
    last_batch_at: float | None = None
    lag_seconds: float = 0.0


@dataclass
class StreamWorker:
    streams: DynamoDBStreamsClient
    stream_arn: str
    handler: Handler
    region: str = "us-east-1"
    batch_size: int = 100
    batching_window: float = 0.2
    checkpoint_file: Path | None = None
    stats: WorkerStats = field(default_factory=WorkerStats)
    _shards: dict[str, _Shard] = field(default_factory=dict)
    _checkpoints: dict[str, str] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if self.checkpoint_file is not None and self.checkpoint_file.exists():
            self._checkpoints = json.loads(self.checkpoint_file.read_text())

    def _save_checkpoints(self) -> None:
        if self.checkpoint_file is not None:
            self.checkpoint_file.parent.mkdir(parents=True, exist_ok=True)
            temporary = self.checkpoint_file.with_suffix(".tmp")
            temporary.write_text(json.dumps(self._checkpoints))
            temporary.replace(self.checkpoint_file)

    def _refresh_shards(self) -> None:
        start: str | None = None
        while True:
            args: dict[str, Any] = {"StreamArn": self.stream_arn}
            if start:
                args["ExclusiveStartShardId"] = start
            description = self.streams.describe_stream(**args)["StreamDescription"]
            for shard in description.get("Shards", []):
                shard_id = shard["ShardId"]
                if shard_id not in self._shards:
                    self._shards[shard_id] = _Shard(shard_id)
            start = description.get("LastEvaluatedShardId")
            if not start:
                return

    def _iterator(self, shard: _Shard, at: str | None = None) -> str | None:
        args: dict[str, Any] = {"StreamArn": self.stream_arn, "ShardId": shard.shard_id}
        checkpoint = self._checkpoints.get(shard.shard_id)
        if at is not None:
            args.update(ShardIteratorType="AT_SEQUENCE_NUMBER", SequenceNumber=at)
        elif checkpoint is not None:
            args.update(ShardIteratorType="AFTER_SEQUENCE_NUMBER", SequenceNumber=checkpoint)
        else:
            args["ShardIteratorType"] = "TRIM_HORIZON"
        return self.streams.get_shard_iterator(**args).get("ShardIterator")

    def _deliver(self, shard: _Shard, records: list[dict[str, Any]]) -> None:
        event = {"Records": [lambda_record(r, self.stream_arn, self.region) for r in records]}
        # The handler's own definition of lag (its batch log line says the same),
        # measured as the batch is handed over, so a batch that keeps failing shows
        # a lag that grows.
        parsed = [aggregation.parse_record(record) for record in event["Records"]]
        self.stats.lag_seconds = aggregation.lag_seconds(
            [e for e in parsed if isinstance(e, aggregation.FavoriteEvent)], time.time()
        )
        try:
            response = self.handler(event, LambdaContext())
        except Exception:
            # Lambda retries a failed invocation with the same batch.
            logger.exception("stream handler failed; the batch will be delivered again")
            self.stats.errors += 1
            shard.iterator = self._iterator(shard, at=records[0]["dynamodb"]["SequenceNumber"])
            return
        failures = (response or {}).get("batchItemFailures") or []
        self.stats.batches += 1
        self.stats.last_batch_at = time.time()
        if failures:
            # Redeliver from the record the handler named; everything before it is done.
            first = str(failures[0]["itemIdentifier"])
            done = [r for r in records if int(r["dynamodb"]["SequenceNumber"]) < int(first)]
            if done:
                self._checkpoints[shard.shard_id] = done[-1]["dynamodb"]["SequenceNumber"]
                self._save_checkpoints()
            self.stats.redeliveries += 1
            shard.iterator = self._iterator(shard, at=first)
            return
        self.stats.records += len(records)
        self._checkpoints[shard.shard_id] = records[-1]["dynamodb"]["SequenceNumber"]
        self._save_checkpoints()

    def poll_once(self) -> int:
        """One pass over every open shard; returns the number of records delivered."""
        self._refresh_shards()
        delivered = 0
        for shard in self._shards.values():
            if shard.closed:
                continue
            if shard.iterator is None:
                shard.iterator = self._iterator(shard)
            if shard.iterator is None:
                shard.closed = True
                continue
            response = self.streams.get_records(ShardIterator=shard.iterator, Limit=self.batch_size)
            records: list[dict[str, Any]] = list(response.get("Records", []))  # type: ignore[arg-type]
            next_iterator = response.get("NextShardIterator")
            if records:
                shard.iterator = next_iterator
                self._deliver(shard, records)
                delivered += len(records)
            else:
                shard.iterator = next_iterator
            if shard.iterator is None:
                shard.closed = True
        return delivered

    def drain(self, timeout: float = 30.0) -> int:
        """Poll until a whole pass finds nothing new; for tests and tools."""
        deadline = time.monotonic() + timeout
        total = 0
        while time.monotonic() < deadline:
            delivered = self.poll_once()
            total += delivered
            if delivered == 0:
                return total
        raise TimeoutError(f"stream not drained within {timeout}s")

    def run(self, stop: threading.Event) -> None:
        while not stop.is_set():
            try:
                if self.poll_once() == 0:
                    self.stats.lag_seconds = 0.0  # caught up: nothing waits
                    stop.wait(self.batching_window)
            except Exception:
                logger.exception("polling the stream failed; retrying")
                self.stats.errors += 1
                stop.wait(1.0)
