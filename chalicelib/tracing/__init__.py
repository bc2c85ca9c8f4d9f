"""Tracing, behind one small API. The only package that imports a tracing library.

Inside Lambda (with active tracing) every DynamoDB call is recorded, and
:meth:`Tracer.subsegment` opens a span with annotations, under the trace Lambda
started for the invocation. ``TRACING_BACKEND`` picks what records them:

- ``xray-sdk`` (the default: the lower cold start, README "Tracing"): the AWS
  X-Ray SDK (:mod:`chalicelib.tracing.xray_sdk`). Its end of support is
  announced for 2027-02-25.
- ``opentelemetry``: the OpenTelemetry SDK with our own botocore hooks and an
  OTLP-over-UDP exporter to the X-Ray daemon (:mod:`chalicelib.tracing.otel`,
  :mod:`chalicelib.tracing.udp`).

Outside Lambda tracing is off: nothing is sent, and neither library (nor either
backend module) is imported. A :class:`Tracer` is built from the settings by
``chalicelib.services`` and handed to whatever opens spans or names the trace
open now.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from contextlib import AbstractContextManager, contextmanager
from functools import cached_property
from typing import Protocol

from chalicelib.settings import Settings
from chalicelib.tracing.spans import AnnotationValue, NullSpan, Span, annotation_key

__all__ = ["OFF", "AnnotationValue", "Span", "Tracer", "annotation_key"]

logger = logging.getLogger(__name__)


class Backend(Protocol):
    def instrument_aws(self) -> None: ...

    def span(self, name: str) -> AbstractContextManager[Span]: ...

    def trace_header(self) -> str | None: ...


class _Off:
    def instrument_aws(self) -> None:
        pass

    def trace_header(self) -> str | None:
        return None

    @contextmanager
    def span(self, name: str) -> Iterator[Span]:
        yield NullSpan()


def _backend_for(settings: Settings) -> Backend:
    # Imported here so that nothing outside Lambda ever loads a tracing library.
    try:
        if settings.tracing_backend == "xray-sdk":
            from chalicelib.tracing.xray_sdk import XRaySdk  # noqa: PLC0415

            return XRaySdk()
        from chalicelib.tracing.otel import OpenTelemetry  # noqa: PLC0415

        return OpenTelemetry(settings)
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
    def backend(self) -> Backend:
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
            yield NullSpan()
            return
        with self.backend.span(name) as span:
            for key, value in annotations.items():
                span.annotate(key, value)
            yield span


# Where nothing asks for tracing (the schema exported to a file, a benchmark's loop).
OFF = Tracer(None)
