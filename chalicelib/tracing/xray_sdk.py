"""The AWS X-Ray SDK backend: botocore patched, spans as subsegments of Lambda's segment.

Imported only when tracing is on with ``TRACING_BACKEND=xray-sdk``; the SDK's
end of support is announced for 2027-02-25 (README, Tracing).
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from aws_xray_sdk.core import patch, xray_recorder

from chalicelib.tracing.spans import (
    LINKS_ANNOTATION,
    LINKS_KEY,
    LINKS_NAMESPACE,
    AnnotationValue,
    NullSpan,
    Span,
    annotation_key,
    header_fields,
    linked_traces,
)


class XRaySpan:
    def __init__(self, subsegment: Any) -> None:
        self._subsegment = subsegment
        self._links: list[dict[str, Any]] = []

    def annotate(self, key: str, value: AnnotationValue) -> None:
        self._subsegment.put_annotation(annotation_key(key), value)

    def link(self, trace_header: str, **attributes: AnnotationValue) -> None:
        fields = header_fields(trace_header)
        if "Root" not in fields:
            return
        # The SDK has no span links: metadata names them, with their attributes.
        self._links.append({"trace_id": fields["Root"], "id": fields.get("Parent"), **attributes})
        self._subsegment.put_metadata(LINKS_KEY, list(self._links), LINKS_NAMESPACE)
        self.annotate(LINKS_ANNOTATION, linked_traces([link["trace_id"] for link in self._links]))


class XRaySdk:
    def __init__(self) -> None:
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
            yield XRaySpan(raw) if raw is not None else NullSpan()

    def trace_header(self) -> str | None:
        entity = self.recorder.get_trace_entity()
        if entity is None or not getattr(entity, "trace_id", None):
            return None
        return f"Root={entity.trace_id};Parent={entity.id};Sampled={int(bool(entity.sampled))}"
