"""Sharded rankings equal the unsharded ones; resharding moves items safely."""

from __future__ import annotations

from typing import Any

from chalicelib.rankings import RankingStore
from chalicelib.sharding import PartitionMismatch, expected_partition_mismatches
from ops.reshard import move_item, reshard
from tests.support import BUCKETS, COUNTS_TABLE, load_counts


def scan_all(client: Any) -> list[dict[str, Any]]:
    items: list[dict[str, Any]] = client.scan(TableName=COUNTS_TABLE)["Items"]
    return items


def answers(client: Any, shards: int) -> dict[tuple[str, int], list[tuple[int, str, int]]]:
    store = RankingStore(client, COUNTS_TABLE, shards)
    return {
        (bucket, first): [
            (r.rank, r.restaurant_id, r.favorite_count) for r in store.top(bucket, first)
        ]
        for bucket in BUCKETS
        for first in (1, 3, 10, 25, 100)
    }


def test_sharded_top_is_identical_to_unsharded_for_1_4_16_shards(dynamodb):
    truth = load_counts(dynamodb, shards=1)
    unsharded = answers(dynamodb, 1)
    for (bucket, first), ranked in unsharded.items():
        expected = truth[bucket][:first]
        assert [(r, c) for _, r, c in ranked] == expected
        # Counts 0..6 over 300 restaurants: every cut falls inside a run of ties.
        assert truth[bucket][first][1] == expected[-1][1]

    for shards in (1, 4, 16, 1):
        reshard(dynamodb, COUNTS_TABLE, shards)
        assert expected_partition_mismatches(scan_all(dynamodb), shards) == []
        assert answers(dynamodb, shards) == unsharded, f"{shards} shards"


def test_reshard_is_idempotent_and_resumable(dynamodb, tmp_path):
    load_counts(dynamodb, shards=1)
    misplaced = len(expected_partition_mismatches(scan_all(dynamodb), 16))
    checkpoint = tmp_path / "checkpoint.json"

    first = reshard(dynamodb, COUNTS_TABLE, 16, checkpoint=checkpoint, page_size=100, max_pages=2)
    assert not first.finished
    assert checkpoint.exists()
    rest = reshard(dynamodb, COUNTS_TABLE, 16, checkpoint=checkpoint, resume=True, page_size=100)
    assert rest.finished
    assert not checkpoint.exists()
    assert first.scanned + rest.scanned == 900  # each item scanned once across the two runs
    assert first.moved + rest.moved == misplaced
    assert expected_partition_mismatches(scan_all(dynamodb), 16) == []

    again = reshard(dynamodb, COUNTS_TABLE, 16)
    assert (again.moved, again.changed_meanwhile) == (0, 0)


def test_a_move_never_overwrites_an_item_that_moved_or_went(dynamodb):
    key = {"restaurant_id": {"S": "r1"}, "bucket": {"S": "ALL"}}
    dynamodb.put_item(
        TableName=COUNTS_TABLE,
        Item={**key, "favorite_count": {"N": "3"}, "rank_partition": {"S": "ALL#2"}},
    )
    # The scan saw ALL#0, but the stream handler has since written ALL#2.
    stale = PartitionMismatch("r1", "ALL", "ALL#0", "ALL#5")
    assert move_item(dynamodb, COUNTS_TABLE, stale) is False
    item = dynamodb.get_item(TableName=COUNTS_TABLE, Key=key)["Item"]
    assert item["rank_partition"] == {"S": "ALL#2"}
    # An item that expired meanwhile is not brought back.
    gone = PartitionMismatch("r2", "ALL", None, "ALL#5")
    assert move_item(dynamodb, COUNTS_TABLE, gone) is False
    assert "Item" not in dynamodb.get_item(
        TableName=COUNTS_TABLE, Key={"restaurant_id": {"S": "r2"}, "bucket": {"S": "ALL"}}
    )


def test_the_reconciler_reports_counts_left_in_the_old_partitions(dynamodb):
    from chalicelib.reconcile.reconciler import Reconciler
    from chalicelib.reconcile.store import ReconcileStore

    load_counts(dynamodb, shards=1)
    store = ReconcileStore(dynamodb, "favorites-test", COUNTS_TABLE, segments=2)

    def check(shards: int) -> Any:
        return Reconciler(store, shards=shards, day_retention_days=90).run()

    assert check(1).misplaced == []
    before = check(16)
    expected = expected_partition_mismatches(scan_all(dynamodb), 16)
    assert len(expected) > 0
    assert sorted(before.misplaced, key=repr) == sorted(expected, key=repr)
    assert not before.clean
    assert before.summary()["misplaced"] == len(expected)

    reshard(dynamodb, COUNTS_TABLE, 16)
    assert check(16).misplaced == []
