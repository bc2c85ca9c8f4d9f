"""The OpenTelemetry backend: the manual SDK, no auto-instrumentation, no collector.

Spans continue Lambda's trace (the X-Ray propagator reads ``_X_AMZN_TRACE_ID``),
DynamoDB calls are spans opened by botocore event hooks of our own, and each
finished span goes to the X-Ray daemon Lambda runs (``AWS_XRAY_DAEMON_ADDRESS``)
through :mod:`chalicelib.tracing.udp`. Imported only when tracing is on with
``TRACING_BACKEND=opentelemetry``.
"""

from __future__ import annotations

import random
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import boto3
from opentelemetry import trace
from opentelemetry.context import Context
from opentelemetry.propagators.aws import AwsXRayPropagator
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.id_generator import IdGenerator
from opentelemetry.trace import SpanKind, StatusCode

from chalicelib.settings import Settings, lambda_trace_header
from chalicelib.tracing.spans import (
    LINKS_ANNOTATION,
    AnnotationValue,
    Span,
    annotation_key,
    linked_traces,
)
from chalicelib.tracing.udp import UdpSpanExporter

# The span attribute that tells X-Ray which attributes to index as annotations.
XRAY_ANNOTATIONS = "aws.xray.annotations"


class OtelSpan:
    def __init__(self, span: trace.Span, propagator: AwsXRayPropagator) -> None:
        self._span = span
        self._propagator = propagator
        self._annotated: list[str] = []
        self._linked: list[str] = []

    def annotate(self, key: str, value: AnnotationValue) -> None:
        key = annotation_key(key)
        self._span.set_attribute(key, value)
        if key not in self._annotated:
            self._annotated.append(key)
            # Attributes become X-Ray metadata; the ones named here annotations
            # (indexed, searchable), as the X-Ray backend records them.
            self._span.set_attribute(XRAY_ANNOTATIONS, self._annotated)

    def link(self, trace_header: str, **attributes: AnnotationValue) -> None:
        extracted = self._propagator.extract({"X-Amzn-Trace-Id": trace_header})
        context = trace.get_current_span(extracted).get_span_context()
        if not context.is_valid:
            return
        self._span.add_link(context, {annotation_key(k): v for k, v in attributes.items()})
        hex_id = f"{context.trace_id:032x}"
        self._linked.append(f"1-{hex_id[:8]}-{hex_id[8:]}")
        self.annotate(LINKS_ANNOTATION, linked_traces(self._linked))


class XRayIds(IdGenerator):
    """Trace ids X-Ray can take as its own: the first 32 bits are the epoch
    second (as AWS's X-Ray id generator makes them); only used for a trace
    with no parent, since inside Lambda every span continues Lambda's trace."""

    def generate_trace_id(self) -> int:
        return (int(time.time()) << 96) | random.getrandbits(96)

    def generate_span_id(self) -> int:
        return random.getrandbits(64)

    def is_trace_id_random(self) -> bool:
        return False  # its first 32 bits are a time (W3C's "random" trace flag stays off)


class OpenTelemetry:
    def __init__(self, settings: Settings) -> None:
        # An explicit resource: Resource.create() would run resource detectors.
        resource = Resource({"service.name": "favorites", "deployment.environment": settings.stage})
        provider = TracerProvider(resource=resource, id_generator=XRayIds())
        # Simple, not batched: no background thread to start at a cold start or
        # to flush before Lambda freezes the sandbox; a UDP send costs microseconds.
        provider.add_span_processor(
            SimpleSpanProcessor(UdpSpanExporter(settings.xray_daemon_address))
        )
        self._tracer = provider.get_tracer(__name__)
        self._propagator = AwsXRayPropagator()

    def _lambda_parent(self) -> Context | None:
        """Lambda's segment as the parent when no span of ours is open."""
        if trace.get_current_span().get_span_context().is_valid:
            return None
        header = lambda_trace_header()
        return self._propagator.extract({"X-Amzn-Trace-Id": header}) if header else None

    @contextmanager
    def span(self, name: str) -> Iterator[Span]:
        with self._tracer.start_as_current_span(name, context=self._lambda_parent()) as raw:
            yield OtelSpan(raw, self._propagator)

    def trace_header(self) -> str | None:
        current = trace.get_current_span().get_span_context()
        if not current.is_valid:
            return lambda_trace_header()
        carrier: dict[str, str] = {}
        self._propagator.inject(carrier)  # the current span, in X-Ray's header form
        return carrier.get("X-Amzn-Trace-Id")

    def instrument_aws(self) -> None:
        # boto3's module-level client function builds from the default session, and
        # a client copies its session's event handlers when it is created. The
        # default session may be replaced (moto does), hence every time; a
        # unique id makes registering again a no-op.
        session = boto3.DEFAULT_SESSION or boto3.setup_default_session() or boto3.DEFAULT_SESSION
        assert session is not None
        for event, handler in (
            ("before-parameter-build.dynamodb", self._before_parameters),
            ("before-call.dynamodb", self._before_call),
            ("after-call.dynamodb", self._after_call),
            ("after-call-error.dynamodb", self._after_error),
        ):
            session.events.register(event, handler, unique_id=f"chalicelib.tracing.{event}")

    # botocore event hooks: cheaper at a cold start than OpenTelemetry's
    # botocore instrumentation (README, Tracing), and enough for DynamoDB.

    def _before_parameters(self, params: dict[str, Any], context: dict[str, Any], **_: Any) -> None:
        context["chalicelib.tables"] = table_names(params)

    def _before_call(self, model: Any, context: dict[str, Any], **_: Any) -> None:
        attributes: dict[str, Any] = {
            "rpc.system": "aws-api",
            "rpc.service": "DynamoDB",
            "rpc.method": model.name,
            "aws.region": context.get("client_region") or "",
        }
        tables = context.get("chalicelib.tables")
        if tables:
            attributes["aws.dynamodb.table_names"] = tables
        context["chalicelib.span"] = self._tracer.start_span(
            f"DynamoDB.{model.name}",
            context=self._lambda_parent(),
            kind=SpanKind.CLIENT,
            attributes=attributes,
        )

    def _after_call(
        self, http_response: Any, parsed: dict[str, Any], context: dict[str, Any], **_: Any
    ) -> None:
        span: trace.Span | None = context.pop("chalicelib.span", None)
        if span is None:
            return
        metadata = parsed.get("ResponseMetadata", {})
        status = int(getattr(http_response, "status_code", 0) or metadata.get("HTTPStatusCode", 0))
        span.set_attribute("http.response.status_code", status)
        if "RequestId" in metadata:
            span.set_attribute("aws.request_id", metadata["RequestId"])
        span.set_attribute("retry_attempts", int(metadata.get("RetryAttempts", 0)))
        if status >= 400:
            code = parsed.get("Error", {}).get("Code", "")
            span.set_status(StatusCode.ERROR, code)
        span.end()

    def _after_error(self, exception: BaseException, context: dict[str, Any], **_: Any) -> None:
        span: trace.Span | None = context.pop("chalicelib.span", None)
        if span is None:
            return
        span.record_exception(exception)
        span.set_status(StatusCode.ERROR, type(exception).__name__)
        span.end()


def table_names(params: dict[str, Any]) -> list[str]:
    """The tables a DynamoDB call touches, from its parameters."""
    if "TableName" in params:
        return [str(params["TableName"])]
    if "RequestItems" in params:  # BatchGetItem, BatchWriteItem
        return sorted(params["RequestItems"])
    names = {
        action["TableName"]
        for item in params.get("TransactItems", ())
        for action in item.values()
        if isinstance(action, dict) and "TableName" in action
    }
    return sorted(names)
