"""What a span is, whichever backend records it: annotations, links and their rules."""

from __future__ import annotations

import re
from typing import Protocol

AnnotationValue = str | int | float | bool
_KEY = re.compile(r"[^A-Za-z0-9_]")

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
        """Point to another trace's span, named by ``Tracer.trace_header`` there."""


class NullSpan:
    """The span of tracing off: it records nothing."""

    def annotate(self, key: str, value: AnnotationValue) -> None:
        pass

    def link(self, trace_header: str, **attributes: AnnotationValue) -> None:
        pass


def linked_traces(trace_ids: list[str]) -> str:
    """The annotation's value: whole trace ids, as many as fit, in link order."""
    shown = ""
    for trace_id in dict.fromkeys(trace_ids):
        candidate = f"{shown} {trace_id}".strip()
        if len(candidate) > LINKS_ANNOTATION_MAX:
            break
        shown = candidate
    return shown


def header_fields(trace_header: str) -> dict[str, str]:
    """``Root=1-...;Parent=...;Sampled=1`` as a dict."""
    fields = (part.strip().partition("=") for part in trace_header.split(";"))
    return {key: value for key, _, value in fields if value}
