"""One Lambda sandbox, traced: run in a child process by test_tracing_backends.py.

    python -m tests.functional.lambda_child INVOCATIONS_JSON

Lambda's environment (tracing on or off, the daemon's address,
LAMBDA_TASK_ROOT) is the parent's doing. INVOCATIONS_JSON lists
``[kind, trace header]`` pairs, run in order on moto's DynamoDB, each under
its own header as Lambda sets ``_X_AMZN_TRACE_ID`` before an invocation:
``favorite`` (a GraphQL mutation), ``batch`` (the same stream batch each
time: two favorites and a MODIFY), ``link`` (two headers, ``A|B``: a span
of invocation A, then one of invocation B linked to it, through the tracing
API alone) or ``counted`` (``A|B``: a favorite under A, then the stream batch
that carries its INSERT, made from the item as written, under B). Prints
the tracing modules that were loaded, as JSON.
"""

from __future__ import annotations

import json
import os
import sys
from datetime import UTC, datetime

from chalice.test import Client
from moto import mock_aws

from tests.support import COUNTS_TABLE, FAVORITES_TABLE, graphql, stream_event, stream_record

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
# What the two backends import (protobuf: OpenTelemetry's OTLP encoding).
TRACING_LIBRARIES = ("aws_xray_sdk", "opentelemetry", "google")
MUTATION = 'mutation AddFavorite { favorite(restaurantId: "pizza") { changed } }'


def link(second: str) -> None:
    import app

    tracer = app.services().tracer
    with tracer.subsegment("favorite_write"):
        written = tracer.trace_header()
    assert written is not None
    os.environ["_X_AMZN_TRACE_ID"] = second
    with tracer.subsegment("count_batch") as span:
        span.link(written, lag_seconds=1.5)


def counted(client: Client, second: str) -> None:
    import app

    mutation = 'mutation { favorite(restaurantId: "traced") { changed } }'
    assert graphql(client, mutation, user="u9")["data"]["favorite"]["changed"] is True
    key = {"restaurant_id": {"S": "traced"}, "user_id": {"S": "u9"}}
    # Read as the stream would carry it, outside both invocations' traces (unsampled).
    os.environ["_X_AMZN_TRACE_ID"] = f"Root=1-69300000-{0:024x};Parent={1:016x};Sampled=0"
    item = app.services().dynamodb().get_item(TableName=FAVORITES_TABLE, Key=key)["Item"]
    record = stream_record("INSERT", "traced", "u9", new_image=dict(item))
    os.environ["_X_AMZN_TRACE_ID"] = second
    answer = client.lambda_.invoke("aggregate_favorites", stream_event([record]))
    assert answer.payload == {"batchItemFailures": []}, answer.payload


def main() -> None:
    invocations = json.loads(sys.argv[1])
    created = datetime(2026, 11, 23, 10, 0, tzinfo=UTC)
    records = [
        stream_record("INSERT", "r1", "u1", created),
        stream_record("INSERT", "r2", "u2", created),
        stream_record("MODIFY", "r1", "u2", created),
    ]
    with mock_aws():
        import app
        from infra.tables import TableNames, ensure_tables

        # Lambda's init phase: no trace header yet.
        ensure_tables(app.services().dynamodb(), TableNames(FAVORITES_TABLE, COUNTS_TABLE))
        with Client(app.app, stage_name="test", project_dir=ROOT) as client:
            for kind, header in invocations:
                os.environ["_X_AMZN_TRACE_ID"] = header.split("|")[0]
                if kind == "link":
                    link(header.split("|")[1])
                elif kind == "counted":
                    counted(client, header.split("|")[1])
                elif kind == "favorite":
                    result = graphql(client, MUTATION, user="u1")
                    assert result["data"]["favorite"]["changed"] is True, result
                else:
                    answer = client.lambda_.invoke("aggregate_favorites", stream_event(records))
                    assert answer.payload == {"batchItemFailures": []}, answer.payload
    loaded = [name for name in sys.modules if name.split(".")[0] in TRACING_LIBRARIES]
    print(json.dumps(sorted(loaded)))


if __name__ == "__main__":
    main()
