"""Tracing, behind one small API. The only module that imports a tracing library.

Inside Lambda (with active tracing) every DynamoDB call is recorded, and
:func:`subsegment` opens a span with annotations, under the trace Lambda
started for the invocation. ``TRACING_BACKEND`` picks what records them:

- ``xray-sdk`` (the default: the lower cold start, README "Tracing"): the AWS
  X-Ray SDK, botocore patched, subsegments of Lambda's segment. Its end of
  support is announced for 2027-02-25.
- ``opentelemetry``: the OpenTelemetry SDK, no auto-instrumentation and no
  collector. Spans continue Lambda's trace (the X-Ray propagator reads
  ``_X_AMZN_TRACE_ID``), DynamoDB calls are spans opened by botocore event
  hooks of our own, and each finished span goes to the X-Ray daemon Lambda runs
  (``AWS_XRAY_DAEMON_ADDRESS``) as OTLP protobuf over UDP, framed as AWS's ADOT
  X-Ray UDP exporter frames it.

Outside Lambda tracing is off: nothing is sent, and neither library is imported.
A :class:`Tracer` is built from the settings by ``chalicelib.services`` and
handed to whatever opens spans or names the trace open now.
"""

from __future__ import annotations

import base64
import logging
import random
import re
import socket
import time
from collections.abc import Iterator, Sequence
from contextlib import AbstractContextManager, contextmanager
from functools import cached_property
from typing import TYPE_CHECKING, Any, Protocol

from chalicelib.settings import Settings, lambda_trace_header

if TYPE_CHECKING:
    from opentelemetry.context import Context
    from opentelemetry.sdk.trace import ReadableSpan
    from opentelemetry.trace import Span as OtelSpan

logger = logging.getLogger(__name__)

AnnotationValue = str | int | float | bool
_KEY = re.compile(r"[^A-Za-z0-9_]")

# The X-Ray daemon's UDP framing: its protocol header line, then for OTLP spans
# "T1S" (sampled traces) and the base64 of an ExportTraceServiceRequest. As in
# AWS's ADOT Python UDP exporter (aws-otel-otlp-udp-exporter, exporter.py).
DAEMON_HEADER = b'{"format":"json","version":1}\n'
SAMPLED_SPANS_PREFIX = b"T1S"
# The span attribute that tells X-Ray which attributes to index as annotations.
XRAY_ANNOTATIONS = "aws.xray.annotations"
# Where the X-Ray backend keeps a span's links (X-Ray metadata namespace and key).
LINKS_NAMESPACE, LINKS_KEY = "favorites", "links"
# The annotation naming the traces a span links to, in both backends: the trace ids,
# space-separated, so that a filter expression (annotation.linked_traces CONTAINS
# "1-...") finds the span from any of them. Capped: the links themselves hold all.
LINKS_ANNOTATION = "linked_traces"
LINKS_ANNOTATION_MAX = 1000


def annotation_key(key: str) -> str:
    # X-Ray accepts only letters, digits and underscores in annotation keys.
    return _KEY.sub("_", key)


class Span(Protocol):
    def annotate(self, key: str, value: AnnotationValue) -> None: ...

    def link(self, trace_header: str, **attributes: AnnotationValue) -> None:
        """Point to another trace's span, named by :meth:`Tracer.trace_header` there."""


class _NullSpan:
    def annotate(self, key: str, value: AnnotationValue) -> None:
        pass

    def link(self, trace_header: str, **attributes: AnnotationValue) -> None:
        pass


class _Backend(Protocol):
    def instrument_aws(self) -> None: ...

    def span(self, name: str) -> AbstractContextManager[Span]: ...

    def trace_header(self) -> str | None: ...


def _linked_traces(trace_ids: list[str]) -> str:
    """The annotation's value: whole trace ids, as many as fit, in link order."""
    shown = ""
    for trace_id in dict.fromkeys(trace_ids):
        candidate = f"{shown} {trace_id}".strip()
        if len(candidate) > LINKS_ANNOTATION_MAX:
            break
        shown = candidate
    return shown


def _header_fields(trace_header: str) -> dict[str, str]:
    """``Root=1-...;Parent=...;Sampled=1`` as a dict."""
    fields = (part.strip().partition("=") for part in trace_header.split(";"))
    return {key: value for key, _, value in fields if value}


# The X-Ray SDK -------------------------------------------------------------


class _XRaySpan:
    def __init__(self, subsegment: Any) -> None:
        self._subsegment = subsegment
        self._links: list[dict[str, Any]] = []

    def annotate(self, key: str, value: AnnotationValue) -> None:
        self._subsegment.put_annotation(annotation_key(key), value)

    def link(self, trace_header: str, **attributes: AnnotationValue) -> None:
        fields = _header_fields(trace_header)
        if "Root" not in fields:
            return
        # The SDK has no span links: metadata names them, with their attributes.
        self._links.append({"trace_id": fields["Root"], "id": fields.get("Parent"), **attributes})
        self._subsegment.put_metadata(LINKS_KEY, list(self._links), LINKS_NAMESPACE)
        self.annotate(LINKS_ANNOTATION, _linked_traces([link["trace_id"] for link in self._links]))


class _XRaySdk:
    def __init__(self) -> None:
        # Imported here so that nothing outside Lambda ever loads the SDK.
        from aws_xray_sdk.core import patch, xray_recorder  # noqa: PLC0415

        # A missing segment (e.g. a test invoking the handler directly) must
        # never fail the request it would have traced.
        xray_recorder.configure(context_missing="LOG_ERROR")
        patch(["botocore"])
        self.recorder: Any = xray_recorder

    def instrument_aws(self) -> None:
        pass  # botocore is patched once, for every client

    @contextmanager
    def span(self, name: str) -> Iterator[Span]:
        with self.recorder.in_subsegment(name) as raw:
            yield _XRaySpan(raw) if raw is not None else _NullSpan()

    def trace_header(self) -> str | None:
        entity = self.recorder.get_trace_entity()
        if entity is None or not getattr(entity, "trace_id", None):
            return None
        return f"Root={entity.trace_id};Parent={entity.id};Sampled={int(bool(entity.sampled))}"


# OpenTelemetry -------------------------------------------------------------


class _OtelSpan:
    def __init__(self, span: OtelSpan, propagator: Any) -> None:
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
        from opentelemetry import trace  # noqa: PLC0415

        extracted = self._propagator.extract({"X-Amzn-Trace-Id": trace_header})
        context = trace.get_current_span(extracted).get_span_context()
        if not context.is_valid:
            return
        self._span.add_link(context, {annotation_key(k): v for k, v in attributes.items()})
        hex_id = f"{context.trace_id:032x}"
        self._linked.append(f"1-{hex_id[:8]}-{hex_id[8:]}")
        self.annotate(LINKS_ANNOTATION, _linked_traces(self._linked))


class UdpSpanExporter:
    """OTLP spans to the X-Ray daemon over UDP, one datagram per export.

    Built on OpenTelemetry's own OTLP protobuf encoder. The socket never
    blocks and a failed send is reported to the SDK, never to the request.
    """

    def __init__(self, address: str) -> None:
        host, _, port = address.rpartition(":")
        self._address = (host, int(port))
        self._socket = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self._socket.setblocking(False)

    def export(self, spans: Sequence[ReadableSpan]) -> Any:
        from opentelemetry.exporter.otlp.proto.common.trace_encoder import (  # noqa: PLC0415
            encode_spans,
        )
        from opentelemetry.sdk.trace.export import SpanExportResult  # noqa: PLC0415

        payload = base64.b64encode(encode_spans(spans).SerializeToString())
        try:
            self._socket.sendto(DAEMON_HEADER + SAMPLED_SPANS_PREFIX + payload, self._address)
        except OSError:
            return SpanExportResult.FAILURE
        return SpanExportResult.SUCCESS

    def shutdown(self) -> None:
        self._socket.close()

    def force_flush(self, timeout_millis: int = 30000) -> bool:
        return True  # every export is sent at once


class _XRayIds:
    """Trace ids X-Ray can take as its own: the first 32 bits are the epoch
    second (as AWS's X-Ray id generator makes them); only used for a trace
    with no parent, since inside Lambda every span continues Lambda's trace."""

    def generate_trace_id(self) -> int:
        return (int(time.time()) << 96) | random.getrandbits(96)

    def generate_span_id(self) -> int:
        return random.getrandbits(64)

    def is_trace_id_random(self) -> bool:
        return False  # its first 32 bits are a time (W3C's "random" trace flag stays off)


class _OpenTelemetry:
    def __init__(self, settings: Settings) -> None:
        # Imported here so that nothing outside Lambda ever loads the SDK.
        from opentelemetry import trace  # noqa: PLC0415
        from opentelemetry.propagators.aws import AwsXRayPropagator  # noqa: PLC0415
        from opentelemetry.sdk.resources import Resource  # noqa: PLC0415
        from opentelemetry.sdk.trace import TracerProvider  # noqa: PLC0415
        from opentelemetry.sdk.trace.export import SimpleSpanProcessor  # noqa: PLC0415

        # An explicit resource: Resource.create() would run resource detectors.
        resource = Resource({"service.name": "favorites", "deployment.environment": settings.stage})
        provider = TracerProvider(resource=resource, id_generator=_XRayIds())  # type: ignore[arg-type]
        # Simple, not batched: no background thread to start at a cold start or
        # to flush before Lambda freezes the sandbox; a UDP send costs microseconds.
        provider.add_span_processor(
            SimpleSpanProcessor(UdpSpanExporter(settings.xray_daemon_address))  # type: ignore[arg-type]
        )
        self._trace = trace
        self._tracer = provider.get_tracer(__name__)
        self._propagator = AwsXRayPropagator()

    def _lambda_parent(self) -> Context | None:
        """Lambda's segment as the parent when no span of ours is open."""
        if self._trace.get_current_span().get_span_context().is_valid:
            return None
        header = lambda_trace_header()
        return self._propagator.extract({"X-Amzn-Trace-Id": header}) if header else None

    @contextmanager
    def span(self, name: str) -> Iterator[Span]:
        with self._tracer.start_as_current_span(name, context=self._lambda_parent()) as raw:
            yield _OtelSpan(raw, self._propagator)

    def trace_header(self) -> str | None:
        current = self._trace.get_current_span().get_span_context()
        if not current.is_valid:
            return lambda_trace_header()
        carrier: dict[str, str] = {}
        self._propagator.inject(carrier)  # the current span, in X-Ray's header form
        return carrier.get("X-Amzn-Trace-Id")

    def instrument_aws(self) -> None:
        import boto3  # noqa: PLC0415

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
        context["chalicelib.tables"] = _table_names(params)

    def _before_call(self, model: Any, context: dict[str, Any], **_: Any) -> None:
        from opentelemetry.trace import SpanKind  # noqa: PLC0415

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
        span: OtelSpan | None = context.pop("chalicelib.span", None)
        if span is None:
            return
        from opentelemetry.trace import StatusCode  # noqa: PLC0415

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
        span: OtelSpan | None = context.pop("chalicelib.span", None)
        if span is None:
            return
        from opentelemetry.trace import StatusCode  # noqa: PLC0415

        span.record_exception(exception)
        span.set_status(StatusCode.ERROR, type(exception).__name__)
        span.end()


def _table_names(params: dict[str, Any]) -> list[str]:
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


# The API -------------------------------------------------------------------


class _Off:
    def instrument_aws(self) -> None:
        pass

    def trace_header(self) -> str | None:
        return None

    @contextmanager
    def span(self, name: str) -> Iterator[Span]:
        yield _NullSpan()


def _backend_for(settings: Settings) -> _Backend:
    try:
        if settings.tracing_backend == "xray-sdk":
            return _XRaySdk()
        return _OpenTelemetry(settings)
    except ImportError:
        # The zip carries the backend TRACING_BACKEND named when it was packaged
        # (infra/package.py); a function whose variable was changed since must
        # still answer, untraced, and say why once.
        logger.exception(
            "tracing is off: TRACING_BACKEND=%s is not in the zip", settings.tracing_backend
        )
        return _Off()


class Tracer:
    """Tracing as one ``Settings`` value asks for it, built once per composition object.

    Off, it does nothing and imports nothing. On, the backend the settings name
    is loaded on first use and kept by this tracer (the X-Ray SDK's recorder is
    one per process; every tracer that uses it shares it).
    """

    def __init__(self, settings: Settings | None) -> None:
        # None: off, whatever the settings of the process say.
        self.settings = settings
        self.enabled = settings is not None and settings.tracing

    @cached_property
    def backend(self) -> _Backend:
        if self.settings is None or not self.enabled:
            return _Off()
        return _backend_for(self.settings)

    def instrument_aws(self) -> None:
        """Record every DynamoDB call as a span; call before building a boto3 client."""
        if self.enabled:
            self.backend.instrument_aws()

    def trace_header(self) -> str | None:
        """The X-Ray trace header of the span open now (``Root=...;Parent=...;Sampled=...``),
        for another trace to link back to it; ``None`` with tracing off."""
        if not self.enabled:
            return None
        return self.backend.trace_header()

    @contextmanager
    def subsegment(self, name: str, **annotations: AnnotationValue) -> Iterator[Span]:
        if not self.enabled:
            yield _NullSpan()
            return
        with self.backend.span(name) as span:
            for key, value in annotations.items():
                span.annotate(key, value)
            yield span


# Where nothing asks for tracing (the schema exported to a file, a benchmark's loop).
OFF = Tracer(None)
