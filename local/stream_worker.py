"""Feed the favorites table's stream to the stream handler, the way Lambda does.

``chalice local`` never runs event sources, so locally this worker polls the
stream (DynamoDB Local's, or any endpoint's) and invokes the very same
``aggregate_favorites`` handler with Lambda-shaped batches: up to
``batch_size`` records per shard, a short batching window, a checkpoint per
shard, and redelivery from the record a ``batchItemFailures`` answer names.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import logging
import os
import signal
import sys
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from chalicelib.stream.lag import lag_seconds, write_times
from chalicelib.stream.records import FavoriteEvent, parse_record

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
    # When the last write counted from this shard reached the table: the floor
    # for the time of a record that has none of its own (a REMOVE).
    written_through: float | None = None


@dataclass
class WorkerStats:
    batches: int = 0
    records: int = 0
    redeliveries: int = 0
    errors: int = 0
    last_batch_at: float | None = None
    lag_seconds: float = 0.0
    # What fails now, one line; None again once a batch goes through or a poll finds nothing.
    failing: str | None = None


@dataclass
class StreamWorker:
    streams: DynamoDBStreamsClient
    stream_arn: str
    handler: Handler
    region: str = "us-east-1"
    batch_size: int = 100
    batching_window: float = 0.2
    checkpoint_file: Path | None = None
    # Called once per pass of the polling loop, failed or not: the stack's heartbeat.
    on_pass: Callable[[WorkerStats], None] | None = None
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
        # It is the age of the oldest record not yet counted: this batch's first write.
        parsed = [parse_record(record) for record in event["Records"]]
        events = [e for e in parsed if isinstance(e, FavoriteEvent)]
        self.stats.lag_seconds = lag_seconds(events, time.time(), shard.written_through)
        try:
            response = self.handler(event, LambdaContext())
        except Exception as error:
            # Lambda retries a failed invocation with the same batch.
            logger.exception("stream handler failed; the batch will be delivered again")
            self.stats.errors += 1
            self.stats.failing = f"stream handler: {type(error).__name__}: {error}"
            shard.iterator = self._iterator(shard, at=records[0]["dynamodb"]["SequenceNumber"])
            return
        failures = (response or {}).get("batchItemFailures") or []
        self.stats.batches += 1
        self.stats.last_batch_at = time.time()
        if failures:
            # Redeliver from the record the handler named; everything before it is done.
            first = str(failures[0]["itemIdentifier"])
            done = [r for r in records if int(r["dynamodb"]["SequenceNumber"]) < int(first)]
            self._counted(shard, [e for e in events if int(e.sequence_number) < int(first)])
            if done:
                self._checkpoints[shard.shard_id] = done[-1]["dynamodb"]["SequenceNumber"]
                self._save_checkpoints()
            self.stats.redeliveries += 1
            shard.iterator = self._iterator(shard, at=first)
            return
        self.stats.records += len(records)
        self.stats.failing = None
        self._counted(shard, events)
        self._checkpoints[shard.shard_id] = records[-1]["dynamodb"]["SequenceNumber"]
        self._save_checkpoints()

    def _counted(self, shard: _Shard, events: list[FavoriteEvent]) -> None:
        times = write_times(events, shard.written_through)
        if times:
            shard.written_through = max(times)

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
        failing = 0
        while not stop.is_set():
            try:
                if self.poll_once() == 0:
                    self.stats.lag_seconds = 0.0  # caught up: nothing waits
                    self.stats.failing = None
                    stop.wait(self.batching_window)
                failing = 0
            except Exception as error:
                self.stats.errors += 1
                self.stats.failing = f"polling the stream: {type(error).__name__}: {error}"
                # A traceback for the first failure of a run of them, one line after:
                # a DynamoDB that is restarting must not flood the log.
                if failing == 0:
                    logger.exception("polling the stream failed; retrying")
                else:
                    logger.warning("polling the stream still fails (%s); retrying", error)
                # Iterators do not outlive a DynamoDB restart: start again from the checkpoints.
                self._shards.clear()
                failing += 1
                stop.wait(min(5.0, 0.5 * failing))
            if self.on_pass is not None:
                self.on_pass(self.stats)


def heartbeat_path(data_dir: Path) -> Path:
    return data_dir / "stream-worker.json"


def write_heartbeat(data_dir: Path, stats: WorkerStats) -> None:
    """The worker's pid, its counters and the time: the stack reads it into its status."""
    target = heartbeat_path(data_dir)
    temporary = target.with_suffix(".tmp")
    beat = {"pid": os.getpid(), "heartbeat_at": time.time(), **dataclasses.asdict(stats)}
    temporary.write_text(json.dumps(beat))
    temporary.replace(target)


def main(argv: list[str] | None = None) -> int:
    """The stack's stream worker process: ``python -m local.stream_worker --data-dir .data``.

    Its environment (tables, endpoint) is the local stage's, set by the stack.
    Resumes from the data folder's checkpoints; SIGTERM ends it after the batch
    in hand.
    """
    parser = argparse.ArgumentParser(description="Feed the Favorites stream to the handler.")
    parser.add_argument("--data-dir", type=Path, required=True)
    args = parser.parse_args(argv)
    from chalicelib.logs import TextFormatter  # noqa: PLC0415

    handler = logging.StreamHandler()
    # The batch line's figures (records, applied, lag...) travel as fields.
    handler.setFormatter(TextFormatter("%(asctime)s %(name)s %(message)s"))
    logging.basicConfig(level=logging.INFO, handlers=[handler])
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())

    # The app as Lambda loads it, reading the environment the stack gave this process.
    import app  # noqa: PLC0415
    from chalicelib import aws  # noqa: PLC0415
    from infra.tables import stream_arn  # noqa: PLC0415

    services = app.services()  # the handler's own: its client, its settings
    stats = WorkerStats()
    table = services.settings.favorites_table
    arn: str | None = None
    while arn is None and not stop.is_set():
        # The table may not exist yet, or DynamoDB be restarting: keep beating meanwhile.
        try:
            arn = stream_arn(services.dynamodb(), table)
        except Exception as error:
            stats.errors += 1
            stats.failing = f"finding the stream of {table}: {type(error).__name__}: {error}"
            logger.warning("%s; retrying", stats.failing)
            write_heartbeat(args.data_dir, stats)
            stop.wait(1.0)
    if arn is None:
        return 0
    logger.info("stream worker following %s", arn)
    worker = StreamWorker(
        streams=aws.dynamodb_streams(services.settings),
        stream_arn=arn,
        handler=app.aggregate_favorites,
        region=os.environ.get("AWS_DEFAULT_REGION", "us-east-1"),
        checkpoint_file=args.data_dir / "stream-checkpoints.json",
        on_pass=lambda current: write_heartbeat(args.data_dir, current),
        stats=stats,
    )
    write_heartbeat(args.data_dir, stats)
    worker.run(stop)
    return 0


if __name__ == "__main__":
    sys.exit(main())
