"""Helpers shared by the test tiers: stream events, tokens, GraphQL calls."""

from __future__ import annotations

import itertools
import json
import uuid
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime
from typing import Any

from chalicelib.windows import format_timestamp
from local.tokens import token

FAVORITES_TABLE = "favorites-test"
COUNTS_TABLE = "favorite-counts-test"
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


def graphql(
    client: Any,
    query: str,
    variables: dict[str, Any] | None = None,
    *,
    user: str | None = None,
    public: bool = False,
) -> dict[str, Any]:
    """POST a GraphQL request through Chalice's test client; return the decoded body."""
    headers = {"Content-Type": "application/json"}
    if user is not None:
        headers["Authorization"] = token(user)
    body = json.dumps({"query": query, "variables": variables or {}})
    response = client.http.post(
        "/public/graphql" if public else "/graphql", headers=headers, body=body
    )
    assert response.status_code == 200, response.body
    return dict(json.loads(response.body))


def error_codes(result: dict[str, Any]) -> list[str]:
    return [error.get("extensions", {}).get("code") for error in result.get("errors", [])]


@contextmanager
def recorded_spans(monkeypatch: Any) -> Iterator[list[dict[str, Any]]]:
    """Record every span opened through ``chalicelib.tracing``'s API, with its annotations."""
    from chalicelib import tracing

    spans: list[dict[str, Any]] = []

    class Recorder:
        def __init__(self, span: dict[str, Any]) -> None:
            self._span = span

        def annotate(self, key: str, value: Any) -> None:
            self._span[key] = value

    @contextmanager
    def subsegment(name: str, **annotations: Any) -> Iterator[Recorder]:
        span = {"name": name, **annotations}
        spans.append(span)
        yield Recorder(span)

    monkeypatch.setattr(tracing, "subsegment", subsegment)
    yield spans


@contextmanager
def dynamodb_calls(client: Any) -> Iterator[Counter[str]]:
    """Count the DynamoDB calls ``client`` sends, by operation (botocore's event hooks,
    so the code under test runs unchanged; retries by botocore are not extra calls)."""
    calls: Counter[str] = Counter()

    def count(model: Any, **_: Any) -> None:
        calls[model.name] += 1

    client.meta.events.register("before-call.dynamodb", count)
    try:
        yield calls
    finally:
        client.meta.events.unregister("before-call.dynamodb", count)


def count_items(bucket: str, counts: dict[str, int], shards: int = 1) -> list[dict[str, Any]]:
    """Count items as the stream handler leaves them, ranking key included."""
    from chalicelib.sharding import rank_partition

    return [
        {
            "restaurant_id": {"S": restaurant},
            "bucket": {"S": bucket},
            "favorite_count": {"N": str(count)},
            "rank_partition": {"S": rank_partition(bucket, restaurant, shards)},
        }
        for restaurant, count in counts.items()
    ]


def put_counts(client: Any, bucket: str, counts: dict[str, int], shards: int = 1) -> None:
    items = count_items(bucket, counts, shards)
    for start in range(0, len(items), 25):
        requests = [{"PutRequest": {"Item": item}} for item in items[start : start + 25]]
        client.batch_write_item(RequestItems={COUNTS_TABLE: requests})


def put_favorites(client: Any, user: str, restaurants: list[str]) -> None:
    """Favorites written straight to the table (no stream runs in these tiers)."""
    for start in range(0, len(restaurants), 25):
        requests = [
            {
                "PutRequest": {
                    "Item": {
                        "restaurant_id": {"S": restaurant},
                        "user_id": {"S": user},
                        "created_at": {"S": "2026-11-23T08:00:00.000Z"},
                    }
                }
            }
            for restaurant in restaurants[start : start + 25]
        ]
        client.batch_write_item(RequestItems={FAVORITES_TABLE: requests})
