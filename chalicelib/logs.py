"""One structured shape for the service's log lines: a JSON object per line.

In Lambda, ``configure`` gives the ``chalicelib`` loggers their own handler
that writes each record to stdout as one JSON object, so that:

- CloudWatch Logs Insights can query every field (request id, stage,
  function, operation) without parsing text;
- a line that carries an EMF block (``chalicelib.metrics``) has it at the
  root of the event, where CloudWatch looks for it. Lambda's own handler would
  put a ``[LEVEL]\\ttime\\trequest-id\\t`` prefix in front, and the metrics
  would be lost.

Outside Lambda (chalice local, the stream worker, tests) records propagate to
the root logger as before. Structured fields go in ``extra={"fields": {...}}``.
"""

from __future__ import annotations

import json
import logging
import os
import sys
from contextvars import ContextVar
from datetime import UTC, datetime
from typing import Any

# The per-batch and per-run report lines: they carry the metrics (EMF), so they
# are written at INFO whatever LOG_LEVEL says; a quieter level must not switch
# off the metrics that the alarms watch.
REPORTS = "chalicelib.reports"
reports = logging.getLogger(REPORTS)

# Per invocation: who is being served (set by app.py at each entry point).
_context: ContextVar[dict[str, str]] = ContextVar("log_context", default={})  # noqa: B039


def bind(**fields: str | None) -> None:
    """Fields every line of this invocation carries (``request_id``, ``operation``)."""
    _context.set({key: value for key, value in fields.items() if value})


def fields_of(record: logging.LogRecord) -> dict[str, Any]:
    extra = getattr(record, "fields", None)
    return dict(extra) if isinstance(extra, dict) else {}


class JsonFormatter(logging.Formatter):
    """A record as one JSON object: level, time, logger, message, the bound
    context, the stage and function, then the record's own fields."""

    def __init__(self, stage: str, function: str | None = None) -> None:
        super().__init__()
        self._static = {"stage": stage, **({"function": function} if function else {})}

    def format(self, record: logging.LogRecord) -> str:
        line: dict[str, Any] = {
            "level": record.levelname,
            "timestamp": datetime.fromtimestamp(record.created, UTC).isoformat(
                timespec="milliseconds"
            ),
            "logger": record.name,
            "message": record.getMessage(),
            **self._static,
            **_context.get(),
            **fields_of(record),
        }
        if record.exc_info:
            line["exception"] = self.formatException(record.exc_info)
        return json.dumps(line, default=str)


class TextFormatter(logging.Formatter):
    """For a person at a terminal (the local stack): the usual text line, then
    the record's fields as compact JSON, without the metrics block."""

    def format(self, record: logging.LogRecord) -> str:
        text = super().format(record)
        fields = {key: value for key, value in fields_of(record).items() if key != "_aws"}
        return f"{text} {json.dumps(fields, default=str)}" if fields else text


def configure(stage: str, level: str, environ: dict[str, str] | None = None) -> None:
    logger = logging.getLogger("chalicelib")
    logger.setLevel(level)
    reports.setLevel(logging.INFO)
    env = os.environ if environ is None else environ
    function = env.get("AWS_LAMBDA_FUNCTION_NAME")
    if function is None or any(isinstance(h, _StdoutJson) for h in logger.handlers):
        return
    handler = _StdoutJson(sys.stdout)
    handler.setFormatter(JsonFormatter(stage, function))
    logger.addHandler(handler)
    # Not through Lambda's handler, which would prefix every line with text.
    logger.propagate = False


class _StdoutJson(logging.StreamHandler):  # type: ignore[type-arg]
    """Marks the handler ``configure`` installs, so a second call adds none."""
