"""Tracing, behind one small API. The only module that imports ``aws_xray_sdk``.

Inside Lambda (with active tracing) boto3 calls are recorded by the patched
botocore, and :func:`subsegment` opens an X-Ray subsegment with annotations.
Outside Lambda it does nothing at all, and ``aws_xray_sdk`` is never imported.
Moving to OpenTelemetry means rewriting this file only.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from contextlib import contextmanager
from functools import cache
from typing import Any, Protocol

from chalicelib.settings import get_settings

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


@cache
def _xray_recorder() -> Any:
    # Imported here so that nothing outside Lambda ever loads the SDK.
    from aws_xray_sdk.core import patch, xray_recorder  # noqa: PLC0415

    # A missing segment (e.g. a test invoking the handler directly) must
    # never fail the request it would have traced.
    xray_recorder.configure(context_missing="LOG_ERROR")
    patch(["botocore"])
    return xray_recorder


def enabled() -> bool:
    return get_settings().tracing


def instrument_aws() -> None:
    """Record every boto3 call as a subsegment; call before making AWS calls."""
    if enabled():
        _xray_recorder()


@contextmanager
def subsegment(name: str, **annotations: AnnotationValue) -> Iterator[Span]:
    if not enabled():
        yield _NullSpan()
        return
    recorder = _xray_recorder()
    with recorder.in_subsegment(name) as raw:
        span: Span = _XRaySpan(raw) if raw is not None else _NullSpan()
        for key, value in annotations.items():
            span.annotate(key, value)
        yield span
