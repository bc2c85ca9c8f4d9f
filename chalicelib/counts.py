"""What a count item is: its key, its attributes, and the markers beside it.

The stream writer (``chalicelib.stream.writer``) and the reconciler's repair
(``chalicelib.reconcile.store``) both write count items; both take their shape from
here, so a repaired item ranks and expires exactly like a streamed one, and
neither module depends on the other for it.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from chalicelib.sharding import rank_partition
from chalicelib.windows import day_bucket_expiry, format_timestamp

# Exactly-once markers share the counts table. Their keys start with '#',
# which no restaurant id can (see chalicelib.ids), and they have no
# rank_partition, so the ranking index stays sparse.
MARKER_PREFIX = "#EVENT#"
MARKER_BUCKET = "MARKER"

CountKey = tuple[str, str]  # (restaurant_id, bucket)


def count_item_update(
    restaurant_id: str,
    bucket: str,
    *,
    now: float,
    shards: int,
    day_retention_days: int,
) -> tuple[str, dict[str, Any]]:
    """``UpdateExpression`` and values adding ``:delta`` to one count item.

    The one definition of a count item's attributes: the stream writer and the
    reconciler's repair both use it, so a repaired item ranks and expires
    exactly like a streamed one. The caller supplies ``:delta``.
    """
    update = "ADD favorite_count :delta SET updated_at = :now, rank_partition = :partition"
    values: dict[str, Any] = {
        ":now": {"S": format_timestamp(datetime.fromtimestamp(now, UTC))},
        ":partition": {"S": rank_partition(bucket, restaurant_id, shards)},
    }
    expiry = day_bucket_expiry(bucket, day_retention_days)
    if expiry is not None:
        update += ", expires_at = :expires"
        values[":expires"] = {"N": str(expiry)}
    return update, values
