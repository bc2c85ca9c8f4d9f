"""Where count items belong in the ranking index, and finding those that do not."""

from __future__ import annotations

from chalicelib.sharding import (
    PartitionMismatch,
    expected_partition_mismatches,
    rank_partition,
    shard_of,
)


def count_item(restaurant_id: str, bucket: str, partition: str | None, count: int = 1):
    item = {
        "restaurant_id": {"S": restaurant_id},
        "bucket": {"S": bucket},
        "favorite_count": {"N": str(count)},
    }
    if partition is not None:
        item["rank_partition"] = {"S": partition}
    return item


def test_shard_is_stable_and_in_range():
    # crc32, not hash(): the same in every process, so writers and readers agree.
    assert shard_of("pizza-palace", 16) == shard_of("pizza-palace", 16)
    assert {shard_of(f"r{i}", 16) for i in range(1000)} == set(range(16))
    assert rank_partition("ALL", "anything", 1) == "ALL#0"


def test_mismatches_name_misplaced_and_missing_partitions_only():
    placed = count_item("a", "ALL", rank_partition("ALL", "a", 4))
    wrong = f"MONTH#2026-11#{(shard_of('b', 4) + 1) % 4}"
    stale = count_item("b", "MONTH#2026-11", wrong)
    missing = count_item("c", "ALL", None)
    marker = {"restaurant_id": {"S": "#EVENT#x"}, "bucket": {"S": "MARKER"}}
    found = expected_partition_mismatches([placed, stale, missing, marker], 4)
    assert found == [
        PartitionMismatch("b", "MONTH#2026-11", wrong, rank_partition("MONTH#2026-11", "b", 4)),
        PartitionMismatch("c", "ALL", None, rank_partition("ALL", "c", 4)),
    ]


def test_with_one_shard_every_item_belongs_in_shard_zero():
    items = [count_item(f"r{i}", "ALL", f"ALL#{i % 4}") for i in range(8)]
    assert [m.restaurant_id for m in expected_partition_mismatches(items, 1)] == [
        f"r{i}" for i in range(8) if i % 4
    ]
