"""Erasing one user's favorites on request: an account service's message or an operator.

Both paths run :func:`erase` (the queue's function through
:func:`handle_erasure_batch`, the operator through ``python -m ops.erase``).
It deletes through the ``by_user`` index in bounded pages, one ``DeleteItem``
per favorite, so the stream sees one REMOVE per favorite that existed and
decrements exactly the counts it incremented. ``ReturnValues=ALL_OLD`` tells
which deletes removed something: a favorite the user unfavorited meanwhile is
not counted twice in the receipt, and the stream sees it once.

The index is eventually consistent and the user may still be favoriting, so
one pass over it proves nothing. The erasure reads the user's entries pass
after pass (each from the start) and ends only when two passes, the second
starting at least ``settle_seconds`` after the first, both find nothing
(:class:`Settling`). The guarantee: every favorite written before the first
of those passes began, whose index entry appeared within ``settle_seconds``
(DynamoDB's index propagation is usually well under a second), is deleted,
and so is every favorite the index showed when the last pass ran. A favorite
written after the erasure ended is not: close the account (revoke its
tokens) before asking for the erasure.

Planning is pure (:func:`parse_request`, :class:`Settling`, :func:`user_hash`,
:class:`Receipt`); :class:`ErasureStore` is the only part that calls DynamoDB.
"""

from __future__ import annotations

import hashlib
import json
import logging
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, Protocol

from chalicelib import logs
from chalicelib.favorites import BY_USER_INDEX
from chalicelib.ids import is_valid_id
from chalicelib.metrics import ERASURE_METRICS, MetricSpace, embed
from chalicelib.windows import format_timestamp

if TYPE_CHECKING:
    from mypy_boto3_dynamodb import DynamoDBClient

logger = logging.getLogger("chalicelib.erasure")

RECEIPT_MESSAGE = "favorites erased"
PROGRESS_MESSAGE = "favorites erasure continues"
MALFORMED_MESSAGE = "malformed erasure request"

# Index entries read per Query: a bounded page, deleted before the next is read.
PAGE_SIZE = 100
# DeleteItem calls in flight at once (boto3 clients are thread-safe).
DELETE_WORKERS = 16
# The pause between the two empty passes that end an erasure (ERASURE_SETTLE_MS).
SETTLE_SECONDS = 1.0
# Time kept back from the invocation's deadline to log and answer Lambda (a
# tenth of the time left when that is less: a short invocation still works).
DEADLINE_MARGIN_SECONDS = 10.0

# Hashed with a fixed domain prefix so the digest means "the user id of an
# erasure receipt" and matches no other hash of the same id.
_HASH_DOMAIN = b"favorites-erasure-receipt/1\x00"


class MalformedRequest(ValueError):
    """An erasure message that names no user: the message says why, never the body."""


def parse_request(body: str) -> str:
    """The user id of an erasure message, ``{"user_id": "<id>"}`` and nothing else.

    Anything else (not JSON, not an object, another key, an id that breaks
    the id rule) raises :class:`MalformedRequest`: a sender that spells the
    request differently must find out, not have it ignored.
    """
    try:
        request = json.loads(body)
    except (ValueError, TypeError):
        raise MalformedRequest("the body is not JSON") from None
    if not isinstance(request, dict):
        raise MalformedRequest("the body is not a JSON object")
    # Counted, not named: a key could be anything, an id included.
    if "user_id" not in request:
        raise MalformedRequest(f'the body has no "user_id" ({len(request)} other keys)')
    if len(request) > 1:
        raise MalformedRequest(f'the body has {len(request) - 1} keys besides "user_id"')
    user_id = request["user_id"]
    if not is_valid_id(user_id):
        raise MalformedRequest("user_id breaks the id rule")
    return str(user_id)


def user_hash(user_id: str) -> str:
    """The user id as a receipt shows it: sha256, hex, over a fixed prefix and the id.

    Unsalted on purpose: whoever holds the id (the account service, an
    operator answering the user) can find the receipt by hashing it, and
    nobody needs a key to keep or rotate. It hides nothing from somebody who
    can guess ids, but the service's ids are Cognito ``sub`` values, random
    UUIDs that cannot be enumerated.
    """
    return hashlib.sha256(_HASH_DOMAIN + user_id.encode()).hexdigest()


@dataclass
class Settling:
    """When an erasure may end: the pure decision after each pass over the index.

    ``after_pass`` returns the seconds to wait before the next pass, or None
    when the erasure is complete: this pass and an earlier one, begun at least
    ``settle_seconds`` before it with no finding between, were both empty.
    """

    settle_seconds: float
    # When the first of the current run of empty passes began.
    empty_since: float | None = None

    def after_pass(self, *, began: float, found: int, deleted: int, now: float) -> float | None:
        if found == 0:
            if self.empty_since is None:
                self.empty_since = began
            elif began - self.empty_since >= self.settle_seconds:
                return None
            return max(0.0, self.empty_since + self.settle_seconds - now)
        self.empty_since = None
        # Entries found but nothing deleted: the index still shows favorites
        # already gone; give it time rather than read the same page at once.
        return 0.0 if deleted else self.settle_seconds


@dataclass(frozen=True)
class Receipt:
    """What one erasure run did. ``finished`` False: it ran out of time and continues."""

    user_hash: str
    deleted: int
    passes: int
    pages: int
    finished: bool
    finished_at: datetime | None
    seconds: float

    def fields(self) -> dict[str, Any]:
        return {
            "user_hash": self.user_hash,
            "erased": self.deleted,
            "finished": self.finished,
            "finished_at": format_timestamp(self.finished_at) if self.finished_at else None,
            "passes": self.passes,
            "pages": self.pages,
            "seconds": round(self.seconds, 3),
        }


class UserFavorites(Protocol):
    """What an erasure needs of the table (:class:`ErasureStore`; the tests' fakes)."""

    def page(
        self, user_id: str, start: Mapping[str, Any] | None = None
    ) -> tuple[list[str], dict[str, Any] | None]: ...

    def delete(self, user_id: str, restaurant_ids: Sequence[str]) -> int: ...


class ErasureStore:
    """The favorites table as an erasure sees it: one user's index pages, and deletes."""

    def __init__(
        self,
        client: DynamoDBClient,
        table_name: str,
        page_size: int = PAGE_SIZE,
        workers: int = DELETE_WORKERS,
    ) -> None:
        self._client = client
        self._table = table_name
        self._page_size = page_size
        self._workers = workers

    def page(
        self, user_id: str, start: Mapping[str, Any] | None = None
    ) -> tuple[list[str], dict[str, Any] | None]:
        """Restaurant ids of one page of ``user_id``'s index entries, and where the next starts."""
        query: dict[str, Any] = {
            "TableName": self._table,
            "IndexName": BY_USER_INDEX,
            "KeyConditionExpression": "user_id = :user",
            "ExpressionAttributeValues": {":user": {"S": user_id}},
            "ProjectionExpression": "restaurant_id",
            "Limit": self._page_size,
        }
        if start is not None:
            query["ExclusiveStartKey"] = dict(start)
        response = self._client.query(**query)
        ids = [item["restaurant_id"]["S"] for item in response.get("Items", [])]
        return ids, response.get("LastEvaluatedKey")

    def delete_one(self, user_id: str, restaurant_id: str) -> bool:
        """Delete one favorite; True when it existed (and so the stream sees a REMOVE)."""
        response = self._client.delete_item(
            TableName=self._table,
            Key={"restaurant_id": {"S": restaurant_id}, "user_id": {"S": user_id}},
            ReturnValues="ALL_OLD",
        )
        return "Attributes" in response

    def delete(self, user_id: str, restaurant_ids: Sequence[str]) -> int:
        """Delete a page of favorites, ``workers`` at a time; how many existed."""
        if len(restaurant_ids) <= 1:
            return sum(self.delete_one(user_id, r) for r in restaurant_ids)
        # On first use: the other functions load this module and never need threads.
        from concurrent.futures import ThreadPoolExecutor  # noqa: PLC0415

        with ThreadPoolExecutor(max_workers=min(self._workers, len(restaurant_ids))) as pool:
            return sum(pool.map(lambda r: self.delete_one(user_id, r), restaurant_ids))


def erase(
    store: UserFavorites,
    user_id: str,
    *,
    settle_seconds: float = SETTLE_SECONDS,
    deadline: float | None = None,
    monotonic: Callable[[], float] = time.monotonic,
    sleep: Callable[[float], None] = time.sleep,
    wall: Callable[[], float] = time.time,
) -> Receipt:
    """Delete every favorite of ``user_id`` (see the module's guarantee).

    ``deadline`` (on ``monotonic``'s clock) stops the run between pages; the
    receipt then says ``finished: False`` and a later run goes on from what is
    left (what was deleted stays deleted: the table is the progress).
    """
    started = monotonic()
    settling = Settling(settle_seconds)
    deleted = passes = pages = 0

    def receipt(finished: bool) -> Receipt:
        return Receipt(
            user_hash(user_id),
            deleted,
            passes,
            pages,
            finished,
            datetime.fromtimestamp(wall(), UTC) if finished else None,
            monotonic() - started,
        )

    while True:
        if deadline is not None and monotonic() >= deadline:
            return receipt(finished=False)
        began = monotonic()
        passes += 1
        found = deleted_now = 0
        start: dict[str, Any] | None = None
        while True:
            ids, start = store.page(user_id, start)
            pages += 1
            found += len(ids)
            if ids:
                deleted_now += store.delete(user_id, ids)
            if start is None:
                break
            if deadline is not None and monotonic() >= deadline:
                deleted += deleted_now
                return receipt(finished=False)
        deleted += deleted_now
        wait = settling.after_pass(began=began, found=found, deleted=deleted_now, now=monotonic())
        if wait is None:
            return receipt(finished=True)
        if wait > 0:
            if deadline is not None and monotonic() + wait >= deadline:
                return receipt(finished=False)
            sleep(wait)


def log_receipt(
    receipt: Receipt,
    metrics: MetricSpace | None,
    timestamp: float,
    **context: str | int | None,
) -> dict[str, Any]:
    """One JSON line per run, with the ``erased`` metric (EMF); returns its fields.

    A finished run writes the receipt; a run that ran out of time writes a
    progress line with the same fields (its ``erased`` adds up with the next).
    """
    fields: dict[str, Any] = {**receipt.fields(), **context}
    if metrics is not None:
        fields = embed(fields, metrics, ERASURE_METRICS, timestamp)
    message = RECEIPT_MESSAGE if receipt.finished else PROGRESS_MESSAGE
    logs.reports.info(message, extra={"fields": fields})
    return fields


def handle_erasure_batch(
    records: Sequence[Mapping[str, Any]],
    store: UserFavorites,
    remaining_seconds: float | None,
    *,
    settle_seconds: float = SETTLE_SECONDS,
    metrics: MetricSpace | None = None,
    monotonic: Callable[[], float] = time.monotonic,
    clock: Callable[[], float] = time.time,
) -> dict[str, list[dict[str, str]]]:
    """The erasure queue's messages (Lambda's SQS event records); the partial-batch answer.

    A message whose erasure finished is deleted from the queue (not reported).
    Reported as failed, so SQS hands it over again after its visibility
    timeout: a malformed message (logged at ERROR without its body; after
    ``maxReceiveCount`` receives it moves to the dead-letter queue, whose
    alarm calls an operator), and an erasure that ran out of time (the next
    receive continues it). A repeated message finds nothing left: a no-op with
    a receipt of 0. ``clock`` is the wall time the receipts are stamped with.
    """
    deadline = None
    if remaining_seconds is not None:
        margin = min(DEADLINE_MARGIN_SECONDS, remaining_seconds / 10)
        deadline = monotonic() + remaining_seconds - margin
    failures: list[dict[str, str]] = []
    for record in records:
        message_id = str(record.get("messageId", ""))
        try:
            user_id = parse_request(str(record.get("body", "")))
        except MalformedRequest as error:
            logger.error(
                MALFORMED_MESSAGE,
                extra={
                    "fields": {
                        "message_id": message_id,
                        "reason": str(error),
                        "receive_count": _receive_count(record),
                    }
                },
            )
            failures.append({"itemIdentifier": message_id})
            continue
        receipt = erase(
            store,
            user_id,
            settle_seconds=settle_seconds,
            deadline=deadline,
            monotonic=monotonic,
            wall=clock,
        )
        log_receipt(
            receipt,
            metrics,
            clock(),
            source="queue",
            message_id=message_id,
            receive_count=_receive_count(record),
        )
        if not receipt.finished:
            failures.append({"itemIdentifier": message_id})
    return {"batchItemFailures": failures}


def _receive_count(record: Mapping[str, Any]) -> int | None:
    raw = (record.get("attributes") or {}).get("ApproximateReceiveCount")
    return int(raw) if isinstance(raw, str) and raw.isdigit() else None
