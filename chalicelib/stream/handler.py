"""The stream handler's body, as ``app.aggregate_favorites`` calls it."""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from chalicelib import logs
from chalicelib.metrics import MetricSpace
from chalicelib.stream.batch import process_batch
from chalicelib.stream.records import FavoriteEvent
from chalicelib.stream.writer import CountsWriter
from chalicelib.tracing import OFF, Span, Tracer

BATCH_MESSAGE = "favorites stream batch"


def remaining_seconds(context: object) -> float | None:
    """Time left in a Lambda invocation, from its context; ``None`` without one."""
    remaining = getattr(context, "get_remaining_time_in_millis", None)
    return float(remaining()) / 1000 if callable(remaining) else None


def link_counted(span: Span, counted: Sequence[FavoriteEvent], now: float) -> None:
    """Link the batch's span to the trace of each favorite it counted, with the
    favorite's lag from its ``created_at`` to the count: from a favorite's trace
    to the batch that counted it, and back."""
    for event in counted:
        if event.delta > 0 and event.trace_header:
            lag = round(max(0.0, now - event.created_at.timestamp()), 3)
            span.link(event.trace_header, lag_seconds=lag, restaurant_id=event.restaurant_id)


def handle_stream_batch(
    records: Sequence[Mapping[str, Any]],
    writer: CountsWriter,
    favorites_table: str,
    remaining_seconds: float | None = None,
    metrics: MetricSpace | None = None,
    *,
    clock: Callable[[], float] = time.time,
    tracer: Tracer = OFF,
) -> dict[str, list[dict[str, str]]]:
    """The stream handler's body: apply, trace, log one line, answer Lambda.

    ``remaining_seconds`` is the invocation's time left; the retry budget
    stays inside it. The log line carries the batch's metrics (EMF) when
    ``metrics`` names where they go. ``clock`` gives the time the batch's lag
    is measured from; ``tracer`` records the batch's span.
    """
    now = clock()
    with tracer.subsegment("aggregate_favorites") as span:
        report = process_batch(
            records,
            writer,
            favorites_table=favorites_table,
            now=now,
            remaining_seconds=remaining_seconds,
        )
        for key, value in report.annotations().items():
            span.annotate(key, value)
        link_counted(span, report.counted, clock())
    logs.reports.info(BATCH_MESSAGE, extra={"fields": report.log_fields(metrics, now)})
    return report.response()
