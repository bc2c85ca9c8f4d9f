"""Favorites service: wiring only. The logic lives in ``chalicelib``."""

from __future__ import annotations

from functools import cache
from typing import Any

from chalice.app import (
    Chalice,
    CloudWatchEvent,
    CognitoUserPoolAuthorizer,
    DynamoDBEvent,
    Rate,
    Request,
    Response,
    SQSEvent,
)

from chalicelib import cors, logs
from chalicelib.services import Services
from chalicelib.settings import from_environment
from chalicelib.stream.handler import handle_stream_batch, remaining_seconds

# Read once per container: the decorators below need the stage's ARNs.
settings = from_environment()
app = Chalice(app_name="favorites")
# One JSON object per line in Lambda (EMF metrics need the bare object); the
# per-batch report is INFO, which Lambda's root logger would drop.
logs.configure(settings.stage, settings.log_level)


def services() -> Services:
    """The composition object the handlers use, looked up on every call: tests and
    benchmarks serve theirs by replacing this function (tests/conftest.py)."""
    return _built_on_first_use()


@cache
def _built_on_first_use() -> Services:
    # Kept for the container's life: clients, stores, schema and views are built once.
    return Services(settings)


def _request() -> Request:
    request = app.current_request
    assert request is not None, "Chalice sets current_request for every route call"
    return request


def _gateway_request_id() -> str | None:
    # The id API Gateway logs (access logs) and the service puts in its errors.
    request_id = (_request().context or {}).get("requestId")
    return request_id if isinstance(request_id, str) else None


cognito = CognitoUserPoolAuthorizer(
    "FavoritesUserPool", provider_arns=[settings.cognito_user_pool_arn]
)


def _with_cors(response: Response) -> Response:
    # The stage's listed browser origins (CORS_ALLOW_ORIGINS); Chalice's CORSConfig takes one.
    origins = services().settings.cors_allow_origins
    cors.add_response_headers(response.headers, _request().headers, origins)
    return response


def _preflight() -> Response:
    headers = cors.preflight_headers(_request().headers, services().settings.cors_allow_origins)
    return Response(body="", status_code=204, headers=dict(headers))


@app.route(
    "/graphql", methods=["GET", "POST"], authorizer=cognito, content_types=["application/json"]
)
def graphql() -> Response:
    logs.bind(request_id=_gateway_request_id(), operation="graphql")
    # Built on first use: the stream handler never loads strawberry.
    return _with_cors(services().view(public=False).execute_request(_request()))


# Preflights carry no token: they are answered without the authorizer, and with
# nothing but CORS headers.
@app.route("/graphql", methods=["OPTIONS"])
def graphql_preflight() -> Response:
    return _preflight()


@app.route("/public/graphql", methods=["GET", "POST"], content_types=["application/json"])
def public_graphql() -> Response:
    logs.bind(request_id=_gateway_request_id(), operation="public_graphql")
    return _with_cors(services().view(public=True).execute_request(_request()))


@app.route("/public/graphql", methods=["OPTIONS"])
def public_graphql_preflight() -> Response:
    return _preflight()


@app.on_dynamodb_record(
    stream_arn=settings.favorites_stream_arn,
    batch_size=100,
    starting_position="TRIM_HORIZON",
    maximum_batching_window_in_seconds=1,
)
def aggregate_favorites(event: DynamoDBEvent) -> dict[str, Any]:
    logs.bind(request_id=getattr(event.context, "aws_request_id", None), operation="aggregate")
    root = services()
    return handle_stream_batch(
        event.to_dict().get("Records", []),
        root.counts_writer(),
        root.settings.favorites_table,
        remaining_seconds(event.context),
        metrics=root.metric_space(),
        clock=root.clock,
        tracer=root.tracer,
    )


@app.schedule(Rate(1, unit=Rate.DAYS))
def reconcile_counts(event: CloudWatchEvent) -> dict[str, Any]:
    logs.bind(request_id=getattr(event.context, "aws_request_id", None), operation="reconcile")
    # Report only: the run logs drift per bucket; repairing is a person's call (README).
    return services().reconciler().run(repair=False).summary()


# One message per invocation: an erasure of 10,000 favorites takes seconds, and
# one that runs out of time is reported failed, so SQS hands it over again and
# the next invocation continues (README: Erasure on request). The packaged stack
# subscribes the function to its own queue (infra/template.py).
# Two erasures at a time at most: account deletions come in bursts, and the
# table's other users should not feel them.
@app.on_sqs_message(queue=settings.erasure_queue, batch_size=1, maximum_concurrency=2)
def erase_favorites(event: SQSEvent) -> dict[str, Any]:
    logs.bind(request_id=getattr(event.context, "aws_request_id", None), operation="erase")
    # Imported here: the other functions' cold starts never load the erasure.
    from chalicelib.erasure import handle_erasure_batch  # noqa: PLC0415

    root = services()
    return handle_erasure_batch(
        event.to_dict().get("Records", []),
        root.eraser(),
        remaining_seconds(event.context),
        settle_seconds=root.settings.erasure_settle_seconds,
        metrics=root.metric_space(),
        clock=root.clock,
    )
