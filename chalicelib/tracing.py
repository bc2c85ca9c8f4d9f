"""Tracing, behind one small API. The only module that imports ``aws_xray_sdk``.

Inside Lambda (with active tracing) boto3 calls are recorded by the patched
botocore, and :meth:`Tracer.subsegment` opens an X-Ray subsegment with annotations.
Outside Lambda it does nothing at all, and ``aws_xray_sdk`` is never imported.
A :class:`Tracer` is built from the settings by ``chalicelib.services`` and
handed to whatever opens spans.
Moving to OpenTelemetry means rewriting this file only.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from contextlib import contextmanager
from functools import cached_property
from typing import Any, Protocol

from chalicelib.settings import Settings

AnnotationValue = str | int | float | bool
_KEY = re.compile(r"[^A-Za-z0-9_]")


class Span(Protocol):
    def annotate(self, key: str, value: AnnotationValue) -> None: ...


class _NullSpan:
    def annotate(self, key: str, value: AnnotationValue) -> None:
        pass


class _XRaySpan:
    def __init__(self, subsegment: Any) -> None:
        self._subsegment = subsegment

    def annotate(self, key: str, value: AnnotationValue) -> None:
        # X-Ray accepts only letters, digits and underscores in annotation keys.
        self._subsegment.put_annotation(_KEY.sub("_", key), value)


class Tracer:
    """Tracing as one ``Settings`` value asks for it, built once per composition object.

    Off, it does nothing and imports nothing. On, the X-Ray SDK's recorder is
    loaded and patched into botocore on first use (the SDK's recorder is one per
    process; every tracer that is on shares it).
    """

    def __init__(self, settings: Settings | None) -> None:
        # None: off, whatever the settings of the process say.
        self.settings = settings
        self.enabled = settings is not None and settings.tracing

    @cached_property
    def recorder(self) -> Any:
        # Imported here so that nothing outside Lambda ever loads the SDK.
        from aws_xray_sdk.core import patch, xray_recorder  # noqa: PLC0415

        # A missing segment (e.g. a test invoking the handler directly) must
        # never fail the request it would have traced.
        xray_recorder.configure(context_missing="LOG_ERROR")
        patch(["botocore"])
        return xray_recorder

    def instrument_aws(self) -> None:
        """Record every boto3 call as a subsegment; call before making AWS calls."""
        if self.enabled:
            self.recorder  # noqa: B018 (loading it patches botocore)

    @contextmanager
    def subsegment(self, name: str, **annotations: AnnotationValue) -> Iterator[Span]:
        if not self.enabled:
            yield _NullSpan()
            return
        with self.recorder.in_subsegment(name) as raw:
            span: Span = _XRaySpan(raw) if raw is not None else _NullSpan()
            for key, value in annotations.items():
                span.annotate(key, value)
            yield span


# Where nothing asks for tracing (the schema exported to a file, a benchmark's loop).
OFF = Tracer(None)
