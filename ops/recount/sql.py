"""The one recount query, for DuckDB and Athena alike, and the Tally it yields.

Each export line is ``{"Item": {"restaurant_id": {"S": ...}, "created_at":
{"S": ...}, ...}}``; both engines read it as a struct column ``Item``. The
buckets follow ``chalicelib.windows``: ``ALL``, ``MONTH#YYYY-MM`` and
``DAY#YYYY-MM-DD`` by the favorite's own ``created_at`` (UTC text, so a
prefix), day buckets only inside retention. A favorite the stream would not
count (an id ``chalicelib.ids`` rejects, a ``created_at`` that
``parse_timestamp`` rejects) is counted apart as unplaceable, like the Tally.
"""

from __future__ import annotations

import enum
from collections.abc import Iterable
from datetime import UTC, datetime, timedelta

from chalicelib.ids import ID_PATTERN
from chalicelib.reconcile.tally import Tally
from chalicelib.windows import ALL_BUCKET, DAY_PREFIX, MONTH_PREFIX

# Rows that are not counts: the query's totals, named so no bucket can clash.
FAVORITES_ROW = "#favorites"
UNPLACEABLE_ROW = "#unplaceable"

# chalicelib.windows' _TIMESTAMP, anchored for a regex engine that searches.
TIMESTAMP_REGEX = r"^[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}(\.[0-9]{1,6})?Z$"
ID_REGEX = f"^{ID_PATTERN.pattern}$"


class Dialect(enum.Enum):
    """The one word the two engines spell differently: a regex search."""

    DUCKDB = "regexp_matches"
    ATHENA = "regexp_like"


_QUERY = """
WITH favorites AS (
    SELECT Item.restaurant_id.S AS restaurant_id, Item.created_at.S AS created_at
    FROM {source}
),
placed AS (
    SELECT
        CASE WHEN placeable THEN restaurant_id END AS restaurant_id,
        CASE WHEN placeable THEN substr(created_at, 1, 7) END AS month,
        CASE WHEN placeable THEN substr(created_at, 1, 10) END AS day
    FROM (
        SELECT
            restaurant_id,
            created_at,
            coalesce(
                {regex}(restaurant_id, '{id_regex}')
                AND {regex}(created_at, '{timestamp_regex}')
                -- A calendar date and a clock time, as datetime.fromisoformat checks
                -- (a cast takes 24:00:00 for the next midnight; Python does not).
                AND substr(created_at, 12, 2) < '24'
                AND try_cast(replace(substr(created_at, 1, 19), 'T', ' ') AS timestamp)
                    IS NOT NULL,
                false
            ) AS placeable
        FROM favorites
    ) AS checked
)
SELECT
    restaurant_id,
    CASE
        WHEN grouping(restaurant_id) = 1 THEN '{favorites_row}'
        WHEN restaurant_id IS NULL THEN '{unplaceable_row}'
        WHEN grouping(month) = 0 THEN concat('{month_prefix}', month)
        WHEN grouping(day) = 0 THEN concat('{day_prefix}', day)
        ELSE '{all_bucket}'
    END AS bucket,
    count(*) AS favorites
FROM placed
GROUP BY GROUPING SETS ((), (restaurant_id), (restaurant_id, month), (restaurant_id, day))
HAVING
    (restaurant_id IS NOT NULL OR (grouping(month) = 1 AND grouping(day) = 1))
    AND (grouping(day) = 1 OR day >= '{first_day}')
"""


def first_kept_day(now: float, retention_days: int) -> str:
    """The oldest day bucket still inside retention at ``now``, as ``YYYY-MM-DD``.

    ``chalicelib.windows.in_retention`` keeps a day while its midnight plus
    ``1 + retention_days`` days is ahead of ``now``: every day after the one
    ``1 + retention_days`` days ago.
    """
    cutoff = datetime.fromtimestamp(now, UTC) - timedelta(days=1 + retention_days)
    return f"{cutoff.date() + timedelta(days=1):%Y-%m-%d}"


def recount_query(source: str, *, dialect: Dialect, now: float, retention_days: int) -> str:
    """The recount over ``source`` (a table, or DuckDB's ``read_json(...)``).

    Rows of ``(restaurant_id, bucket, favorites)``: every count, then the
    ``FAVORITES_ROW`` and ``UNPLACEABLE_ROW`` totals (restaurant_id NULL).
    """
    return _QUERY.format(
        source=source,
        regex=dialect.value,
        id_regex=ID_REGEX,
        timestamp_regex=TIMESTAMP_REGEX,
        favorites_row=FAVORITES_ROW,
        unplaceable_row=UNPLACEABLE_ROW,
        month_prefix=MONTH_PREFIX,
        day_prefix=DAY_PREFIX,
        all_bucket=ALL_BUCKET,
        first_day=first_kept_day(now, retention_days),
    )


def tally_from_rows(rows: Iterable[tuple[str | None, str, int]]) -> Tally:
    """The reconciler's Tally from the query's rows: counts and its two totals."""
    tally = Tally()
    for restaurant_id, bucket, favorites in rows:
        if bucket == FAVORITES_ROW:
            tally.favorites = int(favorites)
        elif bucket == UNPLACEABLE_ROW:
            tally.unplaceable = int(favorites)
        elif restaurant_id is not None:
            tally.counts[(restaurant_id, bucket)] = int(favorites)
    return tally
