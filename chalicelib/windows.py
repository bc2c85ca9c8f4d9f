"""Time windows and the count buckets they map to. Pure: no I/O, no clock.

Every favorite is counted in three buckets, chosen in UTC by its own
``created_at``: ``ALL``, ``MONTH#YYYY-MM`` and ``DAY#YYYY-MM-DD``.
"""

from __future__ import annotations

import enum
import re
from datetime import UTC, date, datetime, timedelta

from chalicelib.errors import InvalidInput

ALL_BUCKET = "ALL"
MONTH_PREFIX = "MONTH#"
DAY_PREFIX = "DAY#"

# [0-9], never \d: Python's \d (and int()) take every Unicode decimal digit, so a
# period in fullwidth or Arabic-Indic digits would pass and read a bucket nobody writes.
_TIMESTAMP = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}(\.[0-9]{1,6})?Z")
_MONTH = re.compile(r"([0-9]{4})-([0-9]{2})")
_DAY = re.compile(r"([0-9]{4})-([0-9]{2})-([0-9]{2})")


class TimeWindow(enum.Enum):
    ALL_TIME = "ALL_TIME"
    MONTH = "MONTH"
    DAY = "DAY"


def format_timestamp(moment: datetime) -> str:
    """ISO 8601 in UTC with millisecond precision and a ``Z``: sortable as text."""
    moment = moment.astimezone(UTC)
    return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}Z"


def parse_timestamp(text: str) -> datetime:
    """Parse what :func:`format_timestamp` writes; ``ValueError`` for anything else."""
    if not isinstance(text, str) or not _TIMESTAMP.fullmatch(text):
        raise ValueError(f"not a UTC ISO 8601 timestamp: {text!r}")
    return datetime.fromisoformat(text)


def buckets_for(created_at: datetime) -> tuple[str, str, str]:
    """The buckets a favorite created at ``created_at`` counts in."""
    moment = created_at.astimezone(UTC)
    return (ALL_BUCKET, f"{MONTH_PREFIX}{moment:%Y-%m}", f"{DAY_PREFIX}{moment:%Y-%m-%d}")


def current_period(window: TimeWindow, now: datetime) -> str | None:
    now = now.astimezone(UTC)
    if window is TimeWindow.MONTH:
        return f"{now:%Y-%m}"
    if window is TimeWindow.DAY:
        return f"{now:%Y-%m-%d}"
    return None


def bucket_for(window: TimeWindow, period: str | None, now: datetime) -> str:
    """The bucket a query for ``window`` and ``period`` reads.

    ``period`` defaults to the current UTC period; ``InvalidInput`` says what is
    wrong with a period that does not fit the window.
    """
    if window is TimeWindow.ALL_TIME:
        if period is not None:
            raise InvalidInput("period must not be given with window ALL_TIME")
        return ALL_BUCKET
    if period is None:
        period = current_period(window, now)
        assert period is not None
    if window is TimeWindow.MONTH:
        match = _MONTH.fullmatch(period)
        if not match or not 1 <= int(match[2]) <= 12 or int(match[1]) < 1:
            raise InvalidInput(
                f"period for window MONTH must be a month as YYYY-MM, got {period!r}"
            )
        return MONTH_PREFIX + period
    match = _DAY.fullmatch(period)
    try:
        if not match:
            raise ValueError
        date(int(match[1]), int(match[2]), int(match[3]))
    except ValueError:
        raise InvalidInput(
            f"period for window DAY must be a date as YYYY-MM-DD, got {period!r}"
        ) from None
    return DAY_PREFIX + period


def day_bucket_expiry(bucket: str, retention_days: int) -> int | None:
    """Epoch seconds after which a day bucket may be deleted (TTL); ``None`` for others."""
    if not bucket.startswith(DAY_PREFIX):
        return None
    day = date.fromisoformat(bucket[len(DAY_PREFIX) :])
    end = datetime(day.year, day.month, day.day, tzinfo=UTC) + timedelta(days=1 + retention_days)
    return int(end.timestamp())


def in_retention(bucket: str, now: float, retention_days: int) -> bool:
    """Whether a count bucket is still kept at ``now``: ALL, every month, and days
    whose :func:`day_bucket_expiry` is still ahead; not malformed or other buckets.

    The one definition both sides use: the stream writer adds only to these
    buckets (a late unfavorite must not recreate a day TTL has deleted, at -1),
    and the reconciler checks only these.
    """
    if bucket == ALL_BUCKET or bucket.startswith(MONTH_PREFIX):
        return True
    if bucket.startswith(DAY_PREFIX):
        try:
            expiry = day_bucket_expiry(bucket, retention_days)
        except ValueError:
            return False
        return expiry is not None and expiry > now
    return False
