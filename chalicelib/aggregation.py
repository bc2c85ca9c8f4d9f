"""From favorites-stream records to favorite counts, exactly once.

Lambda delivers stream batches at least once, and ``ADD`` is not idempotent, so
each chunk of records is written as one ``TransactWriteItems``: a conditional
``Put`` of a marker per stream ``eventID`` plus the summed ``ADD``s. A marker
that already exists means its event was applied before: that event is dropped
and the rest written. The record parsing and chunk planning are pure; the
writer receives its client and table.
"""

from __future__ import annotations

import logging
import random
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from botocore.exceptions import BotoCoreError, ClientError

from chalicelib import logs, tracing
from chalicelib.counts import MARKER_BUCKET, MARKER_PREFIX, CountKey, count_item_update
from chalicelib.ids import is_valid_id
from chalicelib.metrics import STREAM_METRICS, MetricSpace, embed
from chalicelib.windows import (
    buckets_for,
    format_timestamp,
    in_retention,
    parse_timestamp,
)

if TYPE_CHECKING:
    from mypy_boto3_dynamodb import DynamoDBClient
    from mypy_boto3_dynamodb.type_defs import TransactWriteItemTypeDef

logger = logging.getLogger(__name__)
BATCH_MESSAGE = "favorites stream batch"

MAX_TRANSACTION_ACTIONS = 100
MAX_USER_ID_LENGTH = 256


@dataclass(frozen=True)
class FavoriteEvent:
    """One INSERT (+1) or REMOVE (-1) of a favorite, as the stream told it."""

    event_id: str
    sequence_number: str
    restaurant_id: str
    user_id: str
    created_at: datetime
    delta: int
    approximate_creation: float | None = None

    def count_keys(self) -> list[CountKey]:
        return [(self.restaurant_id, bucket) for bucket in buckets_for(self.created_at)]

    def past_retention(self, now: float, retention_days: int) -> bool:
        """Whether one of its buckets (the day) is past retention at ``now``."""
        return not all(in_retention(bucket, now, retention_days) for _, bucket in self.count_keys())


@dataclass(frozen=True)
class SkippedRecord:
    """A record that is not applied: ignored by design, or poison (malformed)."""

    event_id: str | None
    sequence_number: str | None
    reason: str
    poison: bool


def _string(image: Mapping[str, Any], name: str) -> str | None:
    value = image.get(name)
    if isinstance(value, Mapping) and isinstance(value.get("S"), str):
        return str(value["S"])
    return None


def _table_of(stream_arn: object) -> str | None:
    # arn:aws:dynamodb:<region>:<account>:table/<name>/stream/<label>
    if not isinstance(stream_arn, str) or ":table/" not in stream_arn:
        return None
    return stream_arn.split(":table/", 1)[1].split("/", 1)[0]


def _approximate_creation(dynamodb: Mapping[str, Any]) -> float | None:
    value = dynamodb.get("ApproximateCreationDateTime")
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    return float(value)


def parse_record(
    record: Mapping[str, Any], favorites_table: str | None = None
) -> FavoriteEvent | SkippedRecord:
    """Turn one Lambda stream record into a favorite event, or say why not."""
    if not isinstance(record, Mapping):
        return SkippedRecord(None, None, f"record is a {type(record).__name__}", poison=True)
    dynamodb = record.get("dynamodb")
    dynamodb = dynamodb if isinstance(dynamodb, Mapping) else {}
    event_id = record.get("eventID")
    sequence = dynamodb.get("SequenceNumber")
    if not isinstance(event_id, str) or not event_id or not isinstance(sequence, str):
        return SkippedRecord(None, None, "record without eventID or SequenceNumber", poison=True)

    def skip(reason: str, poison: bool) -> SkippedRecord:
        return SkippedRecord(event_id, sequence, reason, poison)

    if favorites_table is not None:
        source = _table_of(record.get("eventSourceARN"))
        if source is not None and source != favorites_table:
            return skip(f"record from table {source!r}, not {favorites_table!r}", poison=False)
    name = record.get("eventName")
    if name == "MODIFY":
        return skip("MODIFY changes no count", poison=False)
    if name not in ("INSERT", "REMOVE"):
        return skip(f"unknown eventName {name!r}", poison=False)

    image = dynamodb.get("NewImage" if name == "INSERT" else "OldImage")
    if not isinstance(image, Mapping):
        return skip(f"{name} without {'NewImage' if name == 'INSERT' else 'OldImage'}", poison=True)
    restaurant_id = _string(image, "restaurant_id")
    user_id = _string(image, "user_id")
    if restaurant_id is None or not is_valid_id(restaurant_id):
        return skip("restaurant_id missing or not a valid id", poison=True)
    if not user_id or len(user_id) > MAX_USER_ID_LENGTH:
        return skip("user_id missing or too long", poison=True)

    approximate = _approximate_creation(dynamodb)
    created_text = _string(image, "created_at")
    try:
        created_at = parse_timestamp(created_text or "")
    except ValueError:
        # An INSERT happened when its record was made, so the record's own time
        # can stand in; a REMOVE's record time says nothing of when the removed
        # favorite was counted.
        if name != "INSERT" or approximate is None:
            return skip("created_at missing or malformed", poison=True)
        created_at = datetime.fromtimestamp(approximate, UTC)
    return FavoriteEvent(
        event_id=event_id,
        sequence_number=sequence,
        restaurant_id=restaurant_id,
        user_id=user_id,
        created_at=created_at,
        delta=1 if name == "INSERT" else -1,
        approximate_creation=approximate,
    )


# ApproximateCreationDateTime is rounded down: to the second (or finer) in AWS, to
# the minute in DynamoDB Local. The API stamps created_at just before its PutItem,
# so a live INSERT's created_at lies within this much after its record time.
RECORD_TIME_ROUNDING_SECONDS = 60.0
# Room for the API host's clock and DynamoDB's to disagree a little.
CLOCK_SKEW_SECONDS = 5.0


def written_at(event: FavoriteEvent) -> float | None:
    """When the write behind ``event`` reached the table, as precisely as the record tells.

    A live INSERT: its favorite's own ``created_at`` (milliseconds), which agrees
    with the record's rounded time. Anything else falls back to the record's
    ``ApproximateCreationDateTime``: a REMOVE's image says when the favorite was
    made, not removed, and a back-dated or imported favorite's ``created_at``
    says nothing of when it was written.
    """
    record_time = event.approximate_creation
    if record_time is None:
        return None
    if event.delta > 0:
        created = event.created_at.timestamp()
        earliest = record_time - CLOCK_SKEW_SECONDS
        if earliest <= created <= record_time + RECORD_TIME_ROUNDING_SECONDS + CLOCK_SKEW_SECONDS:
            return created
    return record_time


def lag_seconds(events: Iterable[FavoriteEvent], now: float) -> float:
    """How far the stream handler is behind: ``now`` minus the oldest write in the batch.

    The one definition of lag: the batch log line, its trace annotations (and so
    its metrics) and the local stack's status file all use it. It does not lean
    on DynamoDB Local's minute-truncated record times for favorites.
    """
    times = [t for t in (written_at(event) for event in events) if t is not None]
    return max(0.0, now - min(times)) if times else 0.0


def sum_deltas(events: Iterable[FavoriteEvent]) -> dict[CountKey, int]:
    """Net change per (restaurant, bucket); a transaction may touch an item once."""
    deltas: dict[CountKey, int] = {}
    for event in events:
        for key in event.count_keys():
            deltas[key] = deltas.get(key, 0) + event.delta
    return deltas


@dataclass(frozen=True)
class Chunk:
    """Consecutive events that fit in one transaction."""

    events: tuple[FavoriteEvent, ...]

    @property
    def deltas(self) -> dict[CountKey, int]:
        return {key: delta for key, delta in sum_deltas(self.events).items() if delta}

    @property
    def action_count(self) -> int:
        return len(self.events) + len(self.deltas)


def plan_chunks(
    events: Sequence[FavoriteEvent], max_actions: int = MAX_TRANSACTION_ACTIONS
) -> list[Chunk]:
    """Split events, in stream order, into chunks of at most ``max_actions`` actions.

    Each event costs one marker plus the count items it adds to its chunk.
    Stream order is kept so that a failed chunk's first event is the first
    record not applied.
    """
    chunks: list[Chunk] = []
    current: list[FavoriteEvent] = []
    keys: set[CountKey] = set()
    for event in events:
        new_keys = set(event.count_keys()) - keys
        if current and len(current) + 1 + len(keys) + len(new_keys) > max_actions:
            chunks.append(Chunk(tuple(current)))
            current, keys = [], set()
            new_keys = set(event.count_keys())
        current.append(event)
        keys |= new_keys
    if current:
        chunks.append(Chunk(tuple(current)))
    return chunks


# Cancellation reasons and errors that are worth trying again.
TRANSIENT_REASONS = frozenset(
    {
        "TransactionConflict",
        "ThrottlingError",
        "ProvisionedThroughputExceeded",
        "RequestLimitExceeded",
        "InternalServerError",
        "ServiceUnavailable",
    }
)
TRANSIENT_ERRORS = frozenset(
    {
        "ThrottlingException",
        "ProvisionedThroughputExceededException",
        "RequestLimitExceeded",
        "InternalServerError",
        "ServiceUnavailable",
        "TransactionInProgressException",
        "TransactionConflictException",
    }
)


@dataclass(frozen=True)
class Cancellation:
    """What a cancelled transaction's ``CancellationReasons`` say."""

    duplicate_markers: frozenset[int]
    transient: bool
    permanent: str | None


def read_cancellation(reasons: Sequence[Mapping[str, Any]], marker_count: int) -> Cancellation:
    """Classify each action's reason; markers are the first ``marker_count`` actions."""
    if not reasons:
        return Cancellation(frozenset(), False, "transaction cancelled without reasons")
    duplicates: set[int] = set()
    transient = False
    permanent: str | None = None
    for index, reason in enumerate(reasons):
        code = str(reason.get("Code") or "None")
        if code == "None":
            continue
        if code == "ConditionalCheckFailed" and index < marker_count:
            duplicates.add(index)
        elif code in TRANSIENT_REASONS:
            transient = True
        else:
            permanent = permanent or f"action {index}: {code} {reason.get('Message', '')}".strip()
    if not duplicates and not transient and permanent is None:
        permanent = "transaction cancelled with no failing action"
    return Cancellation(frozenset(duplicates), transient, permanent)


def backoff_delay(
    attempt: int, rng: Callable[[], float], base: float = 0.05, cap: float = 2.0
) -> float:
    """Full-jitter exponential backoff: uniform in [0, min(cap, base * 2**attempt))."""
    return float(rng() * min(cap, base * (2**attempt)))


# A safety net under the time budget: a clock that stalls must not retry forever.
MAX_WRITE_ATTEMPTS = 12


class WriteFailed(Exception):
    """A chunk could not be written; its events must be delivered again."""


@dataclass
class ChunkOutcome:
    applied: int = 0
    duplicates: int = 0
    retries: int = 0
    # Applied events whose day bucket was past retention: only ALL and MONTH counted.
    past_retention: int = 0


class CountsWriter:
    """Applies chunks to the FavoriteCounts table, each as one transaction."""

    def __init__(
        self,
        client: DynamoDBClient,
        table_name: str,
        *,
        shards: int,
        day_retention_days: int,
        marker_ttl_seconds: int,
        budget_seconds: float,
        clock: Callable[[], float] = time.time,
        monotonic: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] = time.sleep,
        rng: Callable[[], float] = random.random,
    ) -> None:
        self._client = client
        self._table = table_name
        self._shards = shards
        self._day_retention_days = day_retention_days
        self._marker_ttl = marker_ttl_seconds
        self._budget = budget_seconds
        self._clock = clock
        self._monotonic = monotonic
        self._sleep = sleep
        self._rng = rng

    def actions(
        self, events: Sequence[FavoriteEvent], now: float | None = None
    ) -> list[TransactWriteItemTypeDef]:
        """The transaction for ``events``: their markers first, then the summed updates.

        Buckets past retention get no update: TTL may already have deleted a
        day item, and a late unfavorite would recreate it at -1. The marker is
        still written, and the event's ALL and MONTH buckets still change.
        """
        if now is None:
            now = self._clock()
        stamp = format_timestamp(datetime.fromtimestamp(now, UTC))
        actions: list[TransactWriteItemTypeDef] = [
            {
                "Put": {
                    "TableName": self._table,
                    "Item": {
                        "restaurant_id": {"S": MARKER_PREFIX + event.event_id},
                        "bucket": {"S": MARKER_BUCKET},
                        "sequence_number": {"S": event.sequence_number},
                        "applied_at": {"S": stamp},
                        "expires_at": {"N": str(int(now) + self._marker_ttl)},
                    },
                    "ConditionExpression": "attribute_not_exists(restaurant_id)",
                }
            }
            for event in events
        ]
        for (restaurant_id, bucket), delta in sum_deltas(events).items():
            if not delta or not in_retention(bucket, now, self._day_retention_days):
                continue
            update, values = count_item_update(
                restaurant_id,
                bucket,
                now=now,
                shards=self._shards,
                day_retention_days=self._day_retention_days,
            )
            values[":delta"] = {"N": str(delta)}
            actions.append(
                {
                    "Update": {
                        "TableName": self._table,
                        "Key": {"restaurant_id": {"S": restaurant_id}, "bucket": {"S": bucket}},
                        "UpdateExpression": update,
                        "ExpressionAttributeValues": values,
                    }
                }
            )
        return actions

    def deadline(self, remaining_seconds: float | None = None) -> float:
        """When retrying must stop: one budget per batch, not per chunk.

        A batch of many chunks, each with its own budget, could outlive the
        Lambda timeout; a dying invocation reports nothing and gets the whole
        batch again. Half of the invocation's remaining time caps the budget,
        leaving the rest to answer Lambda.
        """
        budget = self._budget
        if remaining_seconds is not None:
            budget = min(budget, max(0.0, remaining_seconds / 2))
        return self._monotonic() + budget

    def write(self, chunk: Chunk, deadline: float | None = None) -> ChunkOutcome:
        """Apply ``chunk`` exactly once, or raise ``WriteFailed`` having applied none of it.

        Transient failures are retried with jittered backoff until ``deadline``
        (a :meth:`deadline` value; a fresh budget when ``None``).
        """
        outcome = ChunkOutcome()
        pending = list(chunk.events)
        if deadline is None:
            deadline = self.deadline()
        attempt = 0
        while pending:
            now = self._clock()
            try:
                self._client.transact_write_items(TransactItems=self.actions(pending, now))
            except BotoCoreError as error:
                # Connection errors and timeouts: the transaction may or may not
                # have committed. Retrying is safe either way, since a committed
                # one comes back as duplicate markers.
                code = type(error).__name__
                self._back_off(attempt, deadline, code, error)
                outcome.retries += 1
                attempt += 1
            except ClientError as error:
                code = error.response.get("Error", {}).get("Code", "")
                if code == "TransactionCanceledException":
                    verdict = read_cancellation(
                        error.response.get("CancellationReasons", []),
                        len(pending),
                    )
                    if verdict.permanent:
                        raise WriteFailed(verdict.permanent) from error
                    if verdict.duplicate_markers:
                        outcome.duplicates += len(verdict.duplicate_markers)
                        pending = [
                            event
                            for index, event in enumerate(pending)
                            if index not in verdict.duplicate_markers
                        ]
                    if not verdict.transient:
                        continue  # only duplicates: write the rest straight away
                elif code not in TRANSIENT_ERRORS:
                    raise WriteFailed(f"{code}: {error}") from error
                self._back_off(attempt, deadline, code, error)
                outcome.retries += 1
                attempt += 1
            else:
                outcome.applied = len(pending)
                outcome.past_retention = sum(
                    event.past_retention(now, self._day_retention_days) for event in pending
                )
                return outcome
        return outcome

    def _back_off(self, attempt: int, deadline: float, code: str, error: Exception) -> None:
        """Sleep before the next attempt, or raise ``WriteFailed`` when out of budget."""
        delay = backoff_delay(attempt, self._rng)
        if attempt + 1 >= MAX_WRITE_ATTEMPTS or self._monotonic() + delay > deadline:
            raise WriteFailed(f"still failing ({code}) after {attempt + 1} attempts") from error
        self._sleep(delay)


@dataclass
class BatchReport:
    records: int = 0
    applied: int = 0
    duplicates: int = 0
    skipped: int = 0
    poison: int = 0
    retries: int = 0
    past_retention: int = 0
    chunks: int = 0
    lag_seconds: float = 0.0
    failed_sequence_number: str | None = None
    failure: str | None = None
    poison_event_ids: list[str] = field(default_factory=list)

    def response(self) -> dict[str, list[dict[str, str]]]:
        """The partial-batch answer Lambda reads (``ReportBatchItemFailures``)."""
        if self.failed_sequence_number is None:
            return {"batchItemFailures": []}
        return {"batchItemFailures": [{"itemIdentifier": self.failed_sequence_number}]}

    def annotations(self) -> dict[str, int | float | bool]:
        return {
            "records": self.records,
            "applied": self.applied,
            "duplicates": self.duplicates,
            "skipped": self.skipped,
            "poison": self.poison,
            "retries": self.retries,
            "past_retention": self.past_retention,
            "chunks": self.chunks,
            "lag_seconds": round(self.lag_seconds, 3),
            "failed": self.failed_sequence_number is not None,
        }

    def log_fields(self, metrics: MetricSpace | None, timestamp: float) -> dict[str, Any]:
        """The fields of the one structured log line per batch, with the EMF
        block that publishes them as CloudWatch metrics when ``metrics`` is set."""
        fields = {
            **self.annotations(),
            "failed": int(self.failed_sequence_number is not None),
            "failed_sequence_number": self.failed_sequence_number,
            "failure": self.failure,
            "poison_event_ids": self.poison_event_ids,
        }
        return embed(fields, metrics, STREAM_METRICS, timestamp) if metrics else fields


def process_batch(
    records: Sequence[Mapping[str, Any]],
    writer: CountsWriter,
    *,
    favorites_table: str | None,
    now: float,
    remaining_seconds: float | None = None,
) -> BatchReport:
    """Apply a stream batch; stop at the first chunk that cannot be written."""
    report = BatchReport(records=len(records))
    events: list[FavoriteEvent] = []
    seen: set[str] = set()
    for record in records:
        parsed = parse_record(record, favorites_table)
        if isinstance(parsed, SkippedRecord):
            report.skipped += 1
            if parsed.poison:
                report.poison += 1
                report.poison_event_ids.append(parsed.event_id or "?")
                logger.warning(
                    "skipping poison record %s (%s): %s",
                    parsed.event_id,
                    parsed.sequence_number,
                    parsed.reason,
                )
            else:
                logger.info("skipping record %s: %s", parsed.event_id, parsed.reason)
            continue
        if parsed.event_id in seen:
            # One transaction may not put the same marker twice (it would fail
            # validation forever), so a record repeated within a batch counts once.
            report.duplicates += 1
            continue
        seen.add(parsed.event_id)
        events.append(parsed)
    report.lag_seconds = lag_seconds(events, now)

    deadline = writer.deadline(remaining_seconds)
    for chunk in plan_chunks(events):
        try:
            outcome = writer.write(chunk, deadline)
        except WriteFailed as error:
            report.failed_sequence_number = chunk.events[0].sequence_number
            report.failure = str(error)
            logger.error(
                "chunk starting at %s not applied, asking for redelivery: %s",
                report.failed_sequence_number,
                error,
            )
            break
        report.chunks += 1
        report.applied += outcome.applied
        report.duplicates += outcome.duplicates
        report.retries += outcome.retries
        report.past_retention += outcome.past_retention
    return report


def remaining_seconds(context: object) -> float | None:
    """Time left in a Lambda invocation, from its context; ``None`` without one."""
    remaining = getattr(context, "get_remaining_time_in_millis", None)
    return float(remaining()) / 1000 if callable(remaining) else None


def handle_stream_batch(
    records: Sequence[Mapping[str, Any]],
    writer: CountsWriter,
    favorites_table: str,
    remaining_seconds: float | None = None,
    metrics: MetricSpace | None = None,
) -> dict[str, list[dict[str, str]]]:
    """The stream handler's body: apply, trace, log one line, answer Lambda.

    ``remaining_seconds`` is the invocation's time left; the retry budget
    stays inside it. The log line carries the batch's metrics (EMF) when
    ``metrics`` names where they go.
    """
    now = time.time()
    with tracing.subsegment("aggregate_favorites") as span:
        report = process_batch(
            records,
            writer,
            favorites_table=favorites_table,
            now=now,
            remaining_seconds=remaining_seconds,
        )
        for key, value in report.annotations().items():
            span.annotate(key, value)
    logs.reports.info(BATCH_MESSAGE, extra={"fields": report.log_fields(metrics, now)})
    return report.response()
