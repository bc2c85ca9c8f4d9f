"""Where a count item lives in the ranking index. Pure.

Every write to one bucket would otherwise land on one GSI partition, so a
bucket's items are spread over ``shards`` partitions by a hash of the
restaurant id that is stable across processes (``hash()`` is not).
"""

from __future__ import annotations

import zlib
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any


def shard_of(restaurant_id: str, shards: int) -> int:
    return zlib.crc32(restaurant_id.encode()) % shards


def rank_partition(bucket: str, restaurant_id: str, shards: int) -> str:
    return f"{bucket}#{shard_of(restaurant_id, shards)}"


def rank_partitions(bucket: str, shards: int) -> list[str]:
    return [f"{bucket}#{shard}" for shard in range(shards)]


@dataclass(frozen=True)
class PartitionMismatch:
    """A count item whose ``rank_partition`` is not where ``shards`` puts it."""

    restaurant_id: str
    bucket: str
    actual: str | None
    expected: str


def expected_partition_mismatches(
    items: Iterable[Mapping[str, Any]], shards: int
) -> list[PartitionMismatch]:
    """Count items (low-level, as Scan returns them) sitting in the wrong partition.

    For the reconciler and the reshard command. Items without
    ``favorite_count`` (stream-event markers) are not ranked and are skipped.
    """
    mismatches = []
    for item in items:
        if "favorite_count" not in item:
            continue
        actual = item.get("rank_partition", {}).get("S")
        mismatch = partition_mismatch(
            item["restaurant_id"]["S"], item["bucket"]["S"], actual, shards
        )
        if mismatch is not None:
            mismatches.append(mismatch)
    return mismatches


def partition_mismatch(
    restaurant_id: str, bucket: str, actual: str | None, shards: int
) -> PartitionMismatch | None:
    expected = rank_partition(bucket, restaurant_id, shards)
    return (
        None if actual == expected else PartitionMismatch(restaurant_id, bucket, actual, expected)
    )
