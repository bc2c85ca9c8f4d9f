"""X-Ray, verified: the segments a GraphQL mutation and a stream batch really emit.

The recorder is the SDK's own (the app's tracer's ``xray-sdk`` backend, through
chalicelib.tracing) with its emitter swapped for an in-memory one, so every
entity that would go to the X-Ray daemon is caught and read back as JSON. Both
backends as Lambda runs them, against a UDP daemon: test_tracing_backends.py.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any, cast

import pytest

from tests.support import FAVORITES_TABLE, graphql, stream_event, stream_record


class MemoryEmitter:
    """Stands in for the UDP emitter: keeps what would be sent to the daemon."""

    def __init__(self) -> None:
        self.documents: list[dict[str, Any]] = []

    def send_entity(self, entity: Any) -> None:
        self.documents.append(json.loads(entity.serialize()))

    def set_daemon_address(self, address: str | None) -> None:
        pass


@pytest.fixture
def xray(serve: Any) -> Iterator[tuple[Any, MemoryEmitter]]:
    # Lambda turns tracing on (AWS_LAMBDA_FUNCTION_NAME); here we say so.
    services = serve(TRACING_ENABLED="true", TRACING_BACKEND="xray-sdk")
    # The SDK's one recorder, patched into botocore.
    recorder = cast(Any, services.tracer.backend).recorder
    emitter = MemoryEmitter()
    original = recorder.emitter
    recorder.emitter = emitter
    yield recorder, emitter
    recorder.emitter = original
    # botocore stays patched for the rest of the session; with no segment open
    # the SDK would log an error for every later call, so silence that here.
    recorder.configure(context_missing="IGNORE_ERROR")


def _traced(recorder: Any, emitter: MemoryEmitter, action: Any) -> dict[str, Any]:
    # In Lambda the facade segment exists already; here one is opened, sampled.
    recorder.begin_segment("favorites-test", sampling=1)
    try:
        action()
    finally:
        recorder.end_segment()
    (segment,) = emitter.documents
    return segment


def _find(node: dict[str, Any], name: str) -> list[dict[str, Any]]:
    found = []
    for child in node.get("subsegments", []):
        if child["name"] == name:
            found.append(child)
        found += _find(child, name)
    return found


def test_a_mutation_records_its_operation_and_the_dynamodb_call(xray, client, dynamodb):
    recorder, emitter = xray

    def mutate() -> None:
        result = graphql(
            client,
            'mutation AddFavorite { favorite(restaurantId: "pizza") { changed } }',
            user="u1",
        )
        assert result["data"]["favorite"]["changed"] is True

    segment = _traced(recorder, emitter, mutate)
    (operation,) = _find(segment, "graphql")
    annotations = dict(operation["annotations"])
    # The request's id, the one an error answer and the log lines carry.
    request_id = annotations.pop("request_id")
    assert isinstance(request_id, str)
    assert len(request_id) >= 16
    assert annotations == {
        "operation": "AddFavorite",
        "operation_type": "mutation",
        "errors": 0,
    }
    (call,) = _find(operation, "dynamodb")
    assert call["namespace"] == "aws"
    assert call["aws"]["operation"] == "PutItem"
    assert call["aws"]["table_name"] == FAVORITES_TABLE
    assert call["aws"]["region"] == "us-east-1"
    assert call["http"]["response"]["status"] == 200
    # Nothing else touched DynamoDB for this request.
    assert len(_find(segment, "dynamodb")) == 1


def test_a_failed_query_is_annotated_with_its_errors(xray, client, dynamodb):
    recorder, emitter = xray
    segment = _traced(
        recorder,
        emitter,
        lambda: graphql(
            client, "query Top { topRestaurants(first: 0) { edges { rank } } }", public=True
        ),
    )
    (operation,) = _find(segment, "graphql")
    assert operation["annotations"]["operation_type"] == "query"
    assert operation["annotations"]["errors"] == 1


def test_a_stream_batch_records_its_report_and_the_transaction(xray, client, dynamodb):
    recorder, emitter = xray
    created = datetime(2026, 11, 23, 10, 0, tzinfo=UTC)
    records = [
        stream_record("INSERT", "r1", "u1", created),
        stream_record("INSERT", "r1", "u2", created),
        stream_record("MODIFY", "r1", "u2", created),
    ]

    def run() -> None:
        response = client.lambda_.invoke("aggregate_favorites", stream_event(records)).payload
        assert response == {"batchItemFailures": []}

    segment = _traced(recorder, emitter, run)
    (batch,) = _find(segment, "aggregate_favorites")
    annotations = batch["annotations"]
    assert annotations["records"] == 3
    assert annotations["applied"] == 2
    assert annotations["skipped"] == 1
    assert annotations["chunks"] == 1
    assert annotations["failed"] is False
    assert annotations["lag_seconds"] >= 0
    (call,) = _find(batch, "dynamodb")
    assert call["aws"]["operation"] == "TransactWriteItems"
    assert call["aws"]["region"] == "us-east-1"
    # The same batch again: markers say "already applied", and the trace shows it.
    emitter.documents.clear()
    segment = _traced(recorder, emitter, run)
    (batch,) = _find(segment, "aggregate_favorites")
    assert batch["annotations"]["duplicates"] == 2
    assert batch["annotations"]["applied"] == 0


@pytest.mark.parametrize("backend", ["xray-sdk", "opentelemetry"])
def test_outside_lambda_tracing_is_off_and_the_sdk_stays_unloaded(backend):
    import subprocess
    import sys

    code = (
        "import sys, app\n"
        "tracer = app.services().tracer\n"
        "with tracer.subsegment('x', a=1) as span: span.annotate('b', 2)\n"
        "tracer.instrument_aws()\n"
        "assert not tracer.enabled\n"
        "assert tracer.trace_header() is None\n"
        "libraries = ('aws_xray_sdk', 'opentelemetry', 'google')\n"
        "loaded = [m for m in sys.modules if m.split('.')[0] in libraries]\n"
        "assert not loaded, loaded\n"
    )
    env = {
        "PATH": "/usr/bin:/bin",
        "STAGE": "test",
        "AWS_DEFAULT_REGION": "us-east-1",
        "TRACING_BACKEND": backend,
    }
    result = subprocess.run(
        [sys.executable, "-c", code], env=env, capture_output=True, text=True, check=False
    )
    assert result.returncode == 0, result.stderr
