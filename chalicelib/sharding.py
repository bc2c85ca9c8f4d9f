"""Where a count item lives in the ranking index. Pure.

Every write to one bucket would otherwise land on one GSI partition, so a
bucket's items are spread over ``shards`` partitions by a hash of the
restaurant id that is stable across processes (``hash()`` is not).
"""

from __future__ import annotations

import zlib


def shard_of(restaurant_id: str, shards: int) -> int:
    return zlib.crc32(restaurant_id.encode()) % shards


def rank_partition(bucket: str, restaurant_id: str, shards: int) -> str:
    return f"{bucket}#{shard_of(restaurant_id, shards)}"


def rank_partitions(bucket: str, shards: int) -> list[str]:
    return [f"{bucket}#{shard}" for shard in range(shards)]
