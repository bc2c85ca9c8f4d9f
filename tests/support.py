"""Helpers shared by the test tiers: GraphQL calls, spans, DynamoDB calls, seeding.

Stream records and count items come from ``devtools`` (the benchmarks use them
too); they are named here as well, so each test imports from one place.
"""

from __future__ import annotations

import json
import os
import random
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any, NoReturn

import pytest

from chalicelib.sharding import rank_partition
from chalicelib.tracing import AnnotationValue, Span, Tracer
from devtools.calls import counting
from devtools.events import stream_event, stream_record
from devtools.items import COUNTS_TABLE, DOCUMENTS_TABLE, FAVORITES_TABLE, count_items
from local.tokens import token

__all__ = [
    "BUCKETS",
    "COUNTS_TABLE",
    "DOCUMENTS_TABLE",
    "FAVORITES_TABLE",
    "SpanRecorder",
    "count_items",
    "dynamodb_calls",
    "error_codes",
    "graphql",
    "load_counts",
    "put_counts",
    "put_favorites",
    "skip_unless_ci",
    "stream_event",
    "stream_record",
]


def skip_unless_ci(missing: str, needed_for: str) -> NoReturn:
    """A tool a test needs is missing: skip, except under ``CI=true``, where every
    test must run, so it fails naming what to install."""
    if os.environ.get("CI") == "true":
        pytest.fail(f"{needed_for} under CI=true, but {missing}")
    pytest.skip(missing)


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


class SpanRecorder(Tracer):
    """A tracer that records every span opened through it, with its annotations
    (hand it to ``Services(tracer=...)``, the ``serve`` fixture or the stream handler)."""

    def __init__(self) -> None:
        super().__init__(None)
        self.enabled = True
        self.spans: list[dict[str, Any]] = []

    def instrument_aws(self) -> None:
        pass  # spans only: the AWS calls are counted elsewhere (dynamodb_calls)

    @contextmanager
    def subsegment(self, name: str, **annotations: AnnotationValue) -> Iterator[Span]:
        span: dict[str, Any] = {"name": name, **annotations}
        self.spans.append(span)
        yield _RecordedSpan(span)


class _RecordedSpan:
    def __init__(self, span: dict[str, Any]) -> None:
        self._span = span

    def annotate(self, key: str, value: AnnotationValue) -> None:
        self._span[key] = value

    def link(self, trace_header: str, **attributes: AnnotationValue) -> None:
        self._span.setdefault("links", []).append({"trace_header": trace_header, **attributes})


@contextmanager
def dynamodb_calls(client: Any) -> Iterator[Counter[str]]:
    """The DynamoDB calls ``client`` sends inside the block, by operation
    (``devtools.calls``: the code under test runs unchanged)."""
    with counting(client) as counter:
        yield counter.calls


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


# The buckets load_counts fills.
BUCKETS = ("ALL", "MONTH#2026-11")


def load_counts(client: Any, shards: int) -> dict[str, list[tuple[str, int]]]:
    """300 restaurants with counts 0..6 (ties everywhere), plus markers; the truth per bucket."""
    rng = random.Random(6)
    items: list[dict[str, Any]] = []
    truth: dict[str, list[tuple[str, int]]] = {bucket: [] for bucket in BUCKETS}
    for index in range(300):
        restaurant = f"r{index:03d}"
        for bucket in BUCKETS:
            count = rng.randint(0, 6)
            items.append(
                {
                    "restaurant_id": {"S": restaurant},
                    "bucket": {"S": bucket},
                    "favorite_count": {"N": str(count)},
                    "rank_partition": {"S": rank_partition(bucket, restaurant, shards)},
                }
            )
            if count > 0:  # unfavorited down to zero: not listed
                truth[bucket].append((restaurant, count))
        items.append({"restaurant_id": {"S": f"#EVENT#{index}"}, "bucket": {"S": "MARKER"}})
    for start in range(0, len(items), 25):
        requests = [{"PutRequest": {"Item": item}} for item in items[start : start + 25]]
        client.batch_write_item(RequestItems={COUNTS_TABLE: requests})
    return {bucket: sorted(pairs, key=lambda p: (-p[1], p[0])) for bucket, pairs in truth.items()}
