"""The Favorites table: one item per (restaurant, user) pair."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING

from botocore.exceptions import ClientError

from chalicelib import cursors
from chalicelib.batch import batch_get
from chalicelib.errors import InvalidInput
from chalicelib.ids import is_valid_id
from chalicelib.settings import DEV_CURSOR_SECRET
from chalicelib.tracing import OFF
from chalicelib.windows import format_timestamp, parse_timestamp

if TYPE_CHECKING:
    from mypy_boto3_dynamodb import DynamoDBClient

BY_USER_INDEX = "by_user"
# A plain attribute of a favorite (no key, no index): infra/tables.json's comment.
TRACE_ATTRIBUTE = "trace_header"
MAX_PAGE_SIZE = 100

# The most favorites a viewer may have for the hearts of a request to come from one
# Query of their whole set on ``by_user`` rather than a BatchGetItem of the listed ids.
# Read-unit arithmetic: a BatchGetItem reads each key as an item of its own, strongly
# consistent, so hearts for n rows cost n read units (100 for a full page). The index is
# KEYS_ONLY: an entry is user_id + created_at + restaurant_id, about 110 bytes with
# 36-character ids and at most about 300 with the longest ids allowed; an eventually
# consistent Query costs 0.5 units per 4 KB. 300 entries are at most ~88 KB, 11 units
# (typically 33 KB, 4.5 units): never more than the BatchGetItem of a 20-row list, and
# 10 to 20 times less than the 100-row one. Above the bound the set could grow without
# end, so the ids are read one by one as before.
VIEWER_SET_LIMIT = 300


@dataclass(frozen=True)
class FavoriteChange:
    restaurant_id: str
    is_favorite: bool
    changed: bool
    # When the favorite this call created was made; None when it created none.
    created_at: datetime | None = None


@dataclass(frozen=True)
class Favorite:
    restaurant_id: str
    created_at: datetime


@dataclass(frozen=True)
class FavoritePage:
    items: list[Favorite]
    end_cursor: str | None
    has_next_page: bool


CURSOR_VERSION = b"favorites-cursor/1"
BAD_CURSOR = "after is not a cursor this API returned to you"


def encode_cursor(favorite: Favorite, user_id: str, key: bytes) -> str:
    """An opaque, signed position in ``user_id``'s favorites, newest first.

    The HMAC makes it tamper-evident and binds it to the user whose list it
    came from (the user id is inside the MAC, not the cursor); the list itself
    is always chosen by the caller's identity.
    """
    payload = {"r": favorite.restaurant_id, "c": format_timestamp(favorite.created_at)}
    return cursors.seal(payload, key=key, version=CURSOR_VERSION, scope=user_id)


def decode_cursor(cursor: str, user_id: str, key: bytes) -> Favorite:
    try:
        payload = cursors.unseal(cursor, key=key, version=CURSOR_VERSION, scope=user_id)
        restaurant_id, created = payload["r"], payload["c"]
        if not is_valid_id(restaurant_id):
            raise ValueError("bad restaurant id")
        return Favorite(restaurant_id, parse_timestamp(created))
    except (ValueError, TypeError, KeyError):
        raise InvalidInput(BAD_CURSOR) from None


def _utcnow() -> datetime:
    return datetime.now(UTC)


class RecentChanges:
    """The favorites this container changed in the last few seconds, per user.

    ``by_user`` is eventually consistent: a heart read from it right after the
    viewer's own tap may still show the old state. The mutation's payload already
    updates the client's cache; this keeps the viewer's next read right too when it
    reaches the same container, at no read cost. Bounded in time and in size.
    """

    def __init__(
        self, clock: Callable[[], datetime], window_seconds: float = 10.0, limit: int = 10_000
    ) -> None:
        self._clock = clock
        self._window = window_seconds
        self._limit = limit
        # (user, restaurant) -> (favorited, when); insertion order is age order.
        self._changes: dict[tuple[str, str], tuple[bool, float]] = {}

    def record(self, user_id: str, restaurant_id: str, favorited: bool) -> None:
        key = (user_id, restaurant_id)
        self._changes.pop(key, None)
        self._changes[key] = (favorited, self._clock().timestamp())
        while len(self._changes) > self._limit:
            del self._changes[next(iter(self._changes))]

    def of(self, user_id: str) -> dict[str, bool]:
        """The user's changes still inside the window: restaurant -> favorited."""
        cutoff = self._clock().timestamp() - self._window
        while self._changes and next(iter(self._changes.values()))[1] < cutoff:
            del self._changes[next(iter(self._changes))]
        return {
            restaurant: favorited
            for (user, restaurant), (favorited, _) in self._changes.items()
            if user == user_id
        }


class FavoritesStore:
    def __init__(
        self,
        client: DynamoDBClient,
        table_name: str,
        clock: Callable[[], datetime] = _utcnow,
        cursor_key: bytes = DEV_CURSOR_SECRET.encode(),
        trace_header: Callable[[], str | None] = OFF.trace_header,
    ) -> None:
        self._client = client
        self._table = table_name
        self._clock = clock
        self._cursor_key = cursor_key
        self._trace_header = trace_header
        self.recent = RecentChanges(clock)

    def add(self, user_id: str, restaurant_id: str) -> FavoriteChange:
        """Favorite once: a repeat writes nothing, so the stream sees nothing."""
        # Stored at millisecond precision: what a cursor over this favorite will say.
        created_at = parse_timestamp(format_timestamp(self._clock()))
        item = {
            "restaurant_id": {"S": restaurant_id},
            "user_id": {"S": user_id},
            "created_at": {"S": format_timestamp(created_at)},
        }
        # The span that wrote it (X-Ray's header form): the stream batch that
        # counts it links back to that trace. Absent with tracing off.
        header = self._trace_header()
        if header:
            item[TRACE_ATTRIBUTE] = {"S": header}
        try:
            self._client.put_item(
                TableName=self._table,
                Item=item,
                ConditionExpression="attribute_not_exists(restaurant_id)",
            )
        except ClientError as error:
            if error.response.get("Error", {}).get("Code") != "ConditionalCheckFailedException":
                raise
            return FavoriteChange(restaurant_id, is_favorite=True, changed=False)
        self.recent.record(user_id, restaurant_id, favorited=True)
        return FavoriteChange(restaurant_id, is_favorite=True, changed=True, created_at=created_at)

    def remove(self, user_id: str, restaurant_id: str) -> FavoriteChange:
        response = self._client.delete_item(
            TableName=self._table,
            Key={"restaurant_id": {"S": restaurant_id}, "user_id": {"S": user_id}},
            ReturnValues="ALL_OLD",
        )
        changed = "Attributes" in response
        if changed:
            self.recent.record(user_id, restaurant_id, favorited=False)
        return FavoriteChange(restaurant_id, is_favorite=False, changed=changed)

    def favorited_among(self, user_id: str, restaurant_ids: Iterable[str]) -> set[str]:
        """Which of ``restaurant_ids`` the user has favorited: one BatchGetItem per 100 ids.

        Consistent reads, so a favorite shows right after the mutation that made it.
        """
        items = batch_get(
            lambda request: self._client.batch_get_item(**request),
            self._table,
            (
                {"restaurant_id": {"S": restaurant_id}, "user_id": {"S": user_id}}
                for restaurant_id in restaurant_ids
            ),
            projection="restaurant_id",
            consistent=True,
        )
        return {item["restaurant_id"]["S"] for item in items}

    def cursor(self, favorite: Favorite, user_id: str) -> str:
        """Where ``user_id``'s list continues after ``favorite`` (``after`` of list_for_user)."""
        return encode_cursor(favorite, user_id, self._cursor_key)

    def favorites_of(self, user_id: str, limit: int = VIEWER_SET_LIMIT) -> frozenset[str] | None:
        """Every restaurant ``user_id`` has favorited, from one Query page of ``by_user``;
        None when they have more than ``limit`` (the caller reads ids one by one instead).

        The index is eventually consistent: a favorite made in the last second or so
        may be missing (see the README, "Hearts").
        """
        response = self._client.query(
            TableName=self._table,
            IndexName=BY_USER_INDEX,
            KeyConditionExpression="user_id = :user",
            ExpressionAttributeValues={":user": {"S": user_id}},
            ProjectionExpression="restaurant_id",
            # One past the limit says "more" without reading the rest.
            Limit=limit + 1,
        )
        items = response.get("Items", [])
        if len(items) > limit:
            return None
        # A page ends early only at 1 MB, far past the limit's ~88 KB.
        return frozenset(item["restaurant_id"]["S"] for item in items)

    def list_for_user(self, user_id: str, first: int, after: str | None = None) -> FavoritePage:
        """A user's favorites, newest first, ``first`` at a time."""
        if not 1 <= first <= MAX_PAGE_SIZE:
            raise InvalidInput(f"first must be between 1 and {MAX_PAGE_SIZE}, got {first}")
        query: dict[str, object] = {
            "TableName": self._table,
            "IndexName": BY_USER_INDEX,
            "KeyConditionExpression": "user_id = :user",
            "ExpressionAttributeValues": {":user": {"S": user_id}},
            "ScanIndexForward": False,
        }
        if after is not None:
            start = decode_cursor(after, user_id, self._cursor_key)
            query["ExclusiveStartKey"] = {
                "user_id": {"S": user_id},
                "created_at": {"S": format_timestamp(start.created_at)},
                "restaurant_id": {"S": start.restaurant_id},
            }
        items: list[Favorite] = []
        # One more than asked for tells whether there is a next page.
        while len(items) <= first:
            query["Limit"] = first + 1 - len(items)
            response = self._client.query(**query)  # type: ignore[arg-type]
            for item in response.get("Items", []):
                items.append(
                    Favorite(item["restaurant_id"]["S"], parse_timestamp(item["created_at"]["S"]))
                )
            if "LastEvaluatedKey" not in response:
                break
            query["ExclusiveStartKey"] = response["LastEvaluatedKey"]
        page = items[:first]
        has_next = len(items) > first
        return FavoritePage(
            items=page,
            end_cursor=encode_cursor(page[-1], user_id, self._cursor_key) if page else None,
            has_next_page=has_next,
        )
