"""Items as the service leaves them in its tables, for seeding a test or a benchmark."""

from __future__ import annotations

from typing import Any

from chalicelib.sharding import rank_partition

# The tables the test tiers create (the benchmarks name their own).
FAVORITES_TABLE = "favorites-test"
COUNTS_TABLE = "favorite-counts-test"
DOCUMENTS_TABLE = "persisted-documents-test"


def count_items(bucket: str, counts: dict[str, int], shards: int = 1) -> list[dict[str, Any]]:
    """Count items as the stream handler leaves them, ranking key included."""
    return [
        {
            "restaurant_id": {"S": restaurant},
            "bucket": {"S": bucket},
            "favorite_count": {"N": str(count)},
            "rank_partition": {"S": rank_partition(bucket, restaurant, shards)},
        }
        for restaurant, count in counts.items()
    ]
