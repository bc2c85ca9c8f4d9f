"""Chunks applied to the FavoriteCounts table, each as one transaction, exactly once.

A cancelled transaction says why per action: markers that already exist are
events applied before (dropped, the rest written again), conflicts and
throttling are retried with jittered backoff inside a time budget.
"""

from __future__ import annotations

import random
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from botocore.exceptions import BotoCoreError, ClientError

from chalicelib.counts import MARKER_BUCKET, MARKER_PREFIX, count_item_update
from chalicelib.stream.plan import Chunk, sum_deltas
from chalicelib.stream.records import FavoriteEvent
from chalicelib.windows import format_timestamp, in_retention

if TYPE_CHECKING:
    from mypy_boto3_dynamodb import DynamoDBClient
    from mypy_boto3_dynamodb.type_defs import TransactWriteItemTypeDef

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
    # The events this write counted (duplicates, counted before, left out).
    counted: tuple[FavoriteEvent, ...] = ()
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
                outcome.counted = tuple(pending)
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
