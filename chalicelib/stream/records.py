"""What a favorites-stream record means: a +1, a -1, or a reason to skip it."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from chalicelib.counts import CountKey
from chalicelib.ids import is_valid_id
from chalicelib.windows import buckets_for, in_retention, parse_timestamp

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
    # An INSERT's: the span that wrote the favorite (chalicelib.favorites.TRACE_ATTRIBUTE).
    trace_header: str | None = None

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
        trace_header=_string(image, "trace_header") if name == "INSERT" else None,
    )
