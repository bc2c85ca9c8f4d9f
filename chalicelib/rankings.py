"""Reads of the FavoriteCounts table: top-k per bucket and single counts."""

from __future__ import annotations

import logging
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from chalicelib.errors import InvalidInput
from chalicelib.settings import DEFAULT_RANKING_TIE_READ_LIMIT
from chalicelib.sharding import rank_partitions

if TYPE_CHECKING:
    from mypy_boto3_dynamodb import DynamoDBClient

BY_COUNT_INDEX = "by_count"
MAX_TOP = 100

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class RankedRestaurant:
    rank: int
    restaurant_id: str
    favorite_count: int


def merge_top(candidates: list[tuple[str, int]], first: int) -> list[RankedRestaurant]:
    """Order by count descending, ties by restaurant id; rank from 1."""
    ordered = sorted(candidates, key=lambda pair: (-pair[1], pair[0]))[:first]
    return [
        RankedRestaurant(rank=index + 1, restaurant_id=restaurant_id, favorite_count=count)
        for index, (restaurant_id, count) in enumerate(ordered)
    ]


@dataclass(frozen=True)
class _ShardTop:
    pairs: list[tuple[str, int]]
    # The boundary count whose ties were cut by the tie read limit; None when all were read.
    cut_at: int | None = None


class RankingStore:
    def __init__(
        self,
        client: DynamoDBClient,
        table_name: str,
        shards: int,
        *,
        tie_read_limit: int = DEFAULT_RANKING_TIE_READ_LIMIT,
    ) -> None:
        if tie_read_limit < 1:
            raise ValueError(f"tie_read_limit must be at least 1, got {tie_read_limit}")
        self._client = client
        self._table = table_name
        self._shards = shards
        self._tie_read_limit = tie_read_limit

    def _read(
        self, partition: str, condition: str, values: dict[str, Any], limit: int
    ) -> tuple[list[tuple[str, int]], bool]:
        """Up to ``limit`` (restaurant_id, count) pairs of one ranking partition, highest
        first, and whether the partition may hold more that match."""
        query: dict[str, Any] = {
            "TableName": self._table,
            "IndexName": BY_COUNT_INDEX,
            "KeyConditionExpression": f"rank_partition = :partition AND {condition}",
            "ExpressionAttributeValues": {":partition": {"S": partition}, **values},
            "ScanIndexForward": False,
        }
        pairs: list[tuple[str, int]] = []
        while True:
            # The index is KEYS_ONLY (about 70 bytes an item): one 1 MB page holds
            # thousands, so a read within the limit is usually one round trip.
            query["Limit"] = limit - len(pairs)
            response = self._client.query(**query)
            pairs.extend(
                (item["restaurant_id"]["S"], int(item["favorite_count"]["N"]))
                for item in response.get("Items", [])
            )
            if "LastEvaluatedKey" not in response:
                return pairs, False
            if len(pairs) >= limit:
                return pairs, True
            query["ExclusiveStartKey"] = response["LastEvaluatedKey"]

    def _shard_top(self, partition: str, first: int) -> _ShardTop:
        """This partition's top ``first``, plus the items tied with the last one.

        The index orders by count only, so which of several equal counts comes
        first is not defined; reading the ties at the boundary makes the answer
        exact and the order by restaurant id stable. That read stops after
        ``tie_read_limit`` items: past it, the tied restaurants listed are
        those read (the counts and the number of rows stay right).
        """
        # One item past ``first``: when it counts less than the boundary, every
        # tie is already here and the second read below is not needed.
        zero = {":zero": {"N": "0"}}
        top, _ = self._read(partition, "favorite_count > :zero", zero, first + 1)
        if len(top) <= first or top[first][1] < top[first - 1][1]:
            return _ShardTop(top[:first])
        boundary = top[first - 1][1]
        ties, more = self._read(
            partition,
            "favorite_count = :boundary",
            {":boundary": {"N": str(boundary)}},
            self._tie_read_limit,
        )
        # Keep the first read's ties too: however small the limit, at least
        # ``first`` rows remain.
        candidates = dict(top)
        candidates.update(ties)
        return _ShardTop(list(candidates.items()), boundary if more else None)

    def top(self, bucket: str, first: int) -> list[RankedRestaurant]:
        if not 1 <= first <= MAX_TOP:
            raise InvalidInput(f"first must be between 1 and {MAX_TOP}, got {first}")
        partitions = rank_partitions(bucket, self._shards)
        if len(partitions) == 1:
            shard_tops = [self._shard_top(partitions[0], first)]
        else:
            # boto3 clients are thread-safe; shards are independent queries.
            with ThreadPoolExecutor(max_workers=min(len(partitions), 16)) as pool:
                shard_tops = list(
                    pool.map(lambda partition: self._shard_top(partition, first), partitions)
                )
        ranked = merge_top([pair for shard in shard_tops for pair in shard.pairs], first)
        cuts = {shard.cut_at for shard in shard_tops if shard.cut_at is not None}
        # A cut matters only where the answer ends inside that run of ties.
        if ranked and ranked[-1].favorite_count in cuts:
            logger.info(
                "top %s: ties at count %d exceed RANKING_TIE_READ_LIMIT=%d per shard; "
                "the tied restaurants listed are the ones read",
                bucket,
                ranked[-1].favorite_count,
                self._tie_read_limit,
            )
        return ranked

    def count(self, restaurant_id: str, bucket: str) -> int:
        response = self._client.get_item(
            TableName=self._table,
            Key={"restaurant_id": {"S": restaurant_id}, "bucket": {"S": bucket}},
            ProjectionExpression="favorite_count",
        )
        item = response.get("Item")
        # Clamped: no restaurant has fewer than zero favorites, so a negative
        # item is drift, never an answer. Clamping hides it from clients only:
        # the reconciler scans the raw items, so drift in any bucket still in
        # retention is reported and repaired. (The stream no longer writes to
        # expired day buckets, the one known way an item went below zero.)
        return max(0, int(item["favorite_count"]["N"])) if item else 0
