"""Reads of the FavoriteCounts table: top-k per bucket and single counts."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from chalicelib.errors import InvalidInput
from chalicelib.sharding import rank_partitions

if TYPE_CHECKING:
    from mypy_boto3_dynamodb import DynamoDBClient

BY_COUNT_INDEX = "by_count"
MAX_TOP = 100


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


class RankingStore:
    def __init__(self, client: DynamoDBClient, table_name: str, shards: int) -> None:
        self._client = client
        self._table = table_name
        self._shards = shards

    def _query(
        self, partition: str, condition: str, values: dict[str, Any], limit: int | None
    ) -> Any:
        """Yield pages of (restaurant_id, count) from one ranking partition, highest first."""
        query: dict[str, Any] = {
            "TableName": self._table,
            "IndexName": BY_COUNT_INDEX,
            "KeyConditionExpression": f"rank_partition = :partition AND {condition}",
            "ExpressionAttributeValues": {":partition": {"S": partition}, **values},
            "ScanIndexForward": False,
        }
        if limit is not None:
            query["Limit"] = limit
        while True:
            response = self._client.query(**query)
            yield [
                (item["restaurant_id"]["S"], int(item["favorite_count"]["N"]))
                for item in response.get("Items", [])
            ]
            if "LastEvaluatedKey" not in response:
                return
            query["ExclusiveStartKey"] = response["LastEvaluatedKey"]

    def _shard_top(self, partition: str, first: int) -> list[tuple[str, int]]:
        """This partition's top ``first``, plus every item tied with the last one.

        The index orders by count only, so which of several equal counts comes
        first is not defined; fetching all ties at the boundary makes the
        answer exact and the order by restaurant id stable.
        """
        top: list[tuple[str, int]] = []
        # One item past ``first``: when it counts less than the boundary, every
        # tie is already here and the second query below is not needed.
        zero = {":zero": {"N": "0"}}
        for page in self._query(partition, "favorite_count > :zero", zero, first + 1):
            top.extend(page)
            if len(top) > first:
                break
        if len(top) <= first:
            return top
        boundary = top[first - 1][1]
        if top[first][1] < boundary:
            return top[:first]
        top = top[:first]
        above = [pair for pair in top if pair[1] > boundary]
        ties = [
            pair
            for page in self._query(
                partition, "favorite_count = :boundary", {":boundary": {"N": str(boundary)}}, None
            )
            for pair in page
        ]
        return above + ties

    def top(self, bucket: str, first: int) -> list[RankedRestaurant]:
        if not 1 <= first <= MAX_TOP:
            raise InvalidInput(f"first must be between 1 and {MAX_TOP}, got {first}")
        partitions = rank_partitions(bucket, self._shards)
        if len(partitions) == 1:
            candidates = self._shard_top(partitions[0], first)
        else:
            # boto3 clients are thread-safe; shards are independent queries.
            with ThreadPoolExecutor(max_workers=min(len(partitions), 16)) as pool:
                results = pool.map(lambda partition: self._shard_top(partition, first), partitions)
                candidates = [pair for result in results for pair in result]
        return merge_top(candidates, first)

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
