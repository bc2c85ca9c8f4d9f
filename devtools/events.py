"""Stream records exactly as Lambda delivers them, every key included.

Chalice's test client has no DynamoDB stream generator; every tier and the
benchmarks build their records here.
"""

from __future__ import annotations

import itertools
import uuid
from datetime import datetime
from typing import Any

from chalicelib.windows import format_timestamp
from devtools.items import FAVORITES_TABLE

# The stream the records come from unless told otherwise: the test tiers' table's.
STREAM_ARN = (
    f"arn:aws:dynamodb:us-east-1:123456789012:table/{FAVORITES_TABLE}"
    "/stream/2026-11-01T00:00:00.000"
)

_sequence_numbers = itertools.count(10**20)


def favorite_image(
    restaurant_id: str, user_id: str, created_at: datetime | str | None
) -> dict[str, Any]:
    image: dict[str, Any] = {"restaurant_id": {"S": restaurant_id}, "user_id": {"S": user_id}}
    if created_at is not None:
        text = created_at if isinstance(created_at, str) else format_timestamp(created_at)
        image["created_at"] = {"S": text}
    return image


def stream_record(
    event_name: str,
    restaurant_id: str = "r1",
    user_id: str = "u1",
    created_at: datetime | str | None = None,
    *,
    event_id: str | None = None,
    sequence_number: str | None = None,
    approximate_creation: float | None = 1_795_000_000.0,
    new_image: dict[str, Any] | None = None,
    old_image: dict[str, Any] | None = None,
    stream_arn: str = STREAM_ARN,
    user_identity: dict[str, str] | None = None,
) -> dict[str, Any]:
    """One record exactly as Lambda delivers a DynamoDB stream record, every key included."""
    image = favorite_image(restaurant_id, user_id, created_at)
    if new_image is None and event_name in ("INSERT", "MODIFY"):
        new_image = image
    if old_image is None and event_name in ("REMOVE", "MODIFY"):
        old_image = image
    dynamodb: dict[str, Any] = {
        "Keys": {"restaurant_id": {"S": restaurant_id}, "user_id": {"S": user_id}},
        "SequenceNumber": sequence_number or str(next(_sequence_numbers)),
        "SizeBytes": 120,
        "StreamViewType": "NEW_AND_OLD_IMAGES",
    }
    if approximate_creation is not None:
        dynamodb["ApproximateCreationDateTime"] = approximate_creation
    if new_image is not None:
        dynamodb["NewImage"] = new_image
    if old_image is not None:
        dynamodb["OldImage"] = old_image
    record: dict[str, Any] = {
        "eventID": event_id or uuid.uuid4().hex,
        "eventName": event_name,
        "eventVersion": "1.1",
        "eventSource": "aws:dynamodb",
        "awsRegion": "us-east-1",
        "dynamodb": dynamodb,
        "eventSourceARN": stream_arn,
    }
    if user_identity is not None:
        record["userIdentity"] = user_identity
    return record


def stream_event(records: list[dict[str, Any]]) -> dict[str, Any]:
    return {"Records": records}
