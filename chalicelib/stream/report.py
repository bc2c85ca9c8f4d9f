"""What one stream batch did: Lambda's answer, trace annotations, the log line and its metrics."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from chalicelib.metrics import STREAM_METRICS, MetricSpace, embed
from chalicelib.stream.records import FavoriteEvent


@dataclass
class BatchReport:
    records: int = 0
    applied: int = 0
    duplicates: int = 0
    skipped: int = 0
    poison: int = 0
    retries: int = 0
    past_retention: int = 0
    chunks: int = 0
    lag_seconds: float = 0.0
    failed_sequence_number: str | None = None
    failure: str | None = None
    poison_event_ids: list[str] = field(default_factory=list)
    # The events this batch counted, in order (for the trace's links, not the log line).
    counted: list[FavoriteEvent] = field(default_factory=list)

    def response(self) -> dict[str, list[dict[str, str]]]:
        """The partial-batch answer Lambda reads (``ReportBatchItemFailures``)."""
        if self.failed_sequence_number is None:
            return {"batchItemFailures": []}
        return {"batchItemFailures": [{"itemIdentifier": self.failed_sequence_number}]}

    def annotations(self) -> dict[str, int | float | bool]:
        return {
            "records": self.records,
            "applied": self.applied,
            "duplicates": self.duplicates,
            "skipped": self.skipped,
            "poison": self.poison,
            "retries": self.retries,
            "past_retention": self.past_retention,
            "chunks": self.chunks,
            "lag_seconds": round(self.lag_seconds, 3),
            "failed": self.failed_sequence_number is not None,
        }

    def log_fields(self, metrics: MetricSpace | None, timestamp: float) -> dict[str, Any]:
        """The fields of the one structured log line per batch, with the EMF
        block that publishes them as CloudWatch metrics when ``metrics`` is set."""
        fields = {
            **self.annotations(),
            "failed": int(self.failed_sequence_number is not None),
            "failed_sequence_number": self.failed_sequence_number,
            "failure": self.failure,
            "poison_event_ids": self.poison_event_ids,
        }
        return embed(fields, metrics, STREAM_METRICS, timestamp) if metrics else fields
