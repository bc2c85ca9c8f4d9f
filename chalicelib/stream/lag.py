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


def _live_created_at(event: FavoriteEvent) -> float | None:
    """A live INSERT's own ``created_at``: when its write reached the table, to the millisecond.

    ``None`` for a REMOVE (its image says when the favorite was made, not
    removed) and for a back-dated or imported favorite, whose ``created_at``
    says nothing of when it was written (it lies outside its record's time).
    """
    record_time = event.approximate_creation
    if record_time is None or event.delta <= 0:
        return None
    created = event.created_at.timestamp()
    earliest = record_time - CLOCK_SKEW_SECONDS
    if earliest <= created <= record_time + RECORD_TIME_ROUNDING_SECONDS + CLOCK_SKEW_SECONDS:
        return created
    return None


def written_at(event: FavoriteEvent) -> float | None:
    """When the write behind ``event`` reached the table, as precisely as the record alone tells.

    A live INSERT: its favorite's own ``created_at`` (milliseconds), which agrees
    with the record's rounded time. Anything else falls back to the record's
    ``ApproximateCreationDateTime``; :func:`write_times` tightens that with
    the records around it.
    """
    live = _live_created_at(event)
    return live if live is not None else event.approximate_creation


def write_times(events: Iterable[FavoriteEvent], after: float | None = None) -> list[float]:
    """When each write reached the table, for one shard's records in stream order.

    A shard's records are in the order of their writes, so a record without a
    time of its own (a REMOVE, a back-dated INSERT) was written no earlier
    than any live INSERT before it, nor than ``after`` (the time of the last
    write already counted from the shard, when the caller knows it): it gets
    the latest of these and its record time. That bound is tight while
    favorites keep arriving, and never makes the lag smaller than it is; with
    only removals for a while, it is the record time (to the second in AWS, to
    the minute in DynamoDB Local).
    """
    times: list[float] = []
    known = after
    for event in events:
        live = _live_created_at(event)
        if live is not None:
            known = live if known is None else max(known, live)
            times.append(live)
            continue
        record_time = event.approximate_creation
        if record_time is None:
            continue
        times.append(record_time if known is None else max(record_time, known))
    return times


def lag_seconds(events: Iterable[FavoriteEvent], now: float, after: float | None = None) -> float:
    """How far the stream handler is behind: the age at ``now`` of the oldest write in the
    batch, that is of the oldest record not yet counted (:func:`write_times`).

    The one definition of lag: the batch log line, its trace annotations (and so
    its metrics) and the local stack's status file all use it. It does not lean
    on DynamoDB Local's minute-truncated record times while favorites arrive.
    """
    times = write_times(events, after)
    return max(0.0, now - min(times)) if times else 0.0
