"""A stream batch applied in order, stopping at the first chunk that cannot be written."""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from typing import Any

from chalicelib.stream.lag import lag_seconds
from chalicelib.stream.plan import plan_chunks
from chalicelib.stream.records import FavoriteEvent, SkippedRecord, parse_record
from chalicelib.stream.report import BatchReport
from chalicelib.stream.writer import CountsWriter, WriteFailed

# The package's logger: the name the stream's warning lines carry.
logger = logging.getLogger("chalicelib.stream")


def process_batch(
    records: Sequence[Mapping[str, Any]],
    writer: CountsWriter,
    *,
    favorites_table: str | None,
    now: float,
    remaining_seconds: float | None = None,
) -> BatchReport:
    """Apply a stream batch; stop at the first chunk that cannot be written."""
    report = BatchReport(records=len(records))
    events: list[FavoriteEvent] = []
    seen: set[str] = set()
    for record in records:
        parsed = parse_record(record, favorites_table)
        if isinstance(parsed, SkippedRecord):
            report.skipped += 1
            if parsed.poison:
                report.poison += 1
                report.poison_event_ids.append(parsed.event_id or "?")
                logger.warning(
                    "skipping poison record %s (%s): %s",
                    parsed.event_id,
                    parsed.sequence_number,
                    parsed.reason,
                )
            else:
                logger.info("skipping record %s: %s", parsed.event_id, parsed.reason)
            continue
        if parsed.event_id in seen:
            # One transaction may not put the same marker twice (it would fail
            # validation forever), so a record repeated within a batch counts once.
            report.duplicates += 1
            continue
        seen.add(parsed.event_id)
        events.append(parsed)
    report.lag_seconds = lag_seconds(events, now)

    deadline = writer.deadline(remaining_seconds)
    for chunk in plan_chunks(events):
        try:
            outcome = writer.write(chunk, deadline)
        except WriteFailed as error:
            report.failed_sequence_number = chunk.events[0].sequence_number
            report.failure = str(error)
            logger.error(
                "chunk starting at %s not applied, asking for redelivery: %s",
                report.failed_sequence_number,
                error,
            )
            break
        report.chunks += 1
        report.applied += outcome.applied
        report.counted += outcome.counted
        report.duplicates += outcome.duplicates
        report.retries += outcome.retries
        report.past_retention += outcome.past_retention
    return report
