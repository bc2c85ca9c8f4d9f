"""The one definition of the stream handler's lag."""

from __future__ import annotations

from collections.abc import Iterable

from chalicelib.stream.records import FavoriteEvent

# ApproximateCreationDateTime is rounded down: to the second (or finer) in AWS, to
# the minute in DynamoDB Local. The API stamps created_at just before its PutItem,
# so a live INSERT's created_at lies within this much after its record time.
RECORD_TIME_ROUNDING_SECONDS = 60.0
# Room for the API host's clock and DynamoDB's to disagree a little.
CLOCK_SKEW_SECONDS = 5.0


def written_at(event: FavoriteEvent) -> float | None:
    """When the write behind ``event`` reached the table, as precisely as the record tells.

    A live INSERT: its favorite's own ``created_at`` (milliseconds), which agrees
    with the record's rounded time. Anything else falls back to the record's
    ``ApproximateCreationDateTime``: a REMOVE's image says when the favorite was
    made, not removed, and a back-dated or imported favorite's ``created_at``
    says nothing of when it was written.
    """
    record_time = event.approximate_creation
    if record_time is None:
        return None
    if event.delta > 0:
        created = event.created_at.timestamp()
        earliest = record_time - CLOCK_SKEW_SECONDS
        if earliest <= created <= record_time + RECORD_TIME_ROUNDING_SECONDS + CLOCK_SKEW_SECONDS:
            return created
    return record_time


def lag_seconds(events: Iterable[FavoriteEvent], now: float) -> float:
    """How far the stream handler is behind: ``now`` minus the oldest write in the batch.

    The one definition of lag: the batch log line, its trace annotations (and so
    its metrics) and the local stack's status file all use it. It does not lean
    on DynamoDB Local's minute-truncated record times for favorites.
    """
    times = [t for t in (written_at(event) for event in events) if t is not None]
    return max(0.0, now - min(times)) if times else 0.0
