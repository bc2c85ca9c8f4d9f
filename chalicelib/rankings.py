"""Reads of the FavoriteCounts table: ranking pages per bucket and batched counts."""

from __future__ import annotations

import logging
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from chalicelib import cursors
from chalicelib.batch import batch_get
from chalicelib.errors import InvalidInput
from chalicelib.ids import is_valid_id
from chalicelib.settings import DEFAULT_RANKING_TIE_READ_LIMIT, DEV_CURSOR_SECRET
from chalicelib.sharding import rank_partitions

if TYPE_CHECKING:
    from mypy_boto3_dynamodb import DynamoDBClient

BY_COUNT_INDEX = "by_count"
MAX_TOP = 100
CURSOR_VERSION = b"ranking-cursor/1"
BAD_CURSOR = "after is not a cursor this API returned for this window and period"

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class RankedRestaurant:
    rank: int
    restaurant_id: str
    favorite_count: int


def merge_top(
    candidates: list[tuple[str, int]], first: int, after: RankedRestaurant | None = None
) -> list[RankedRestaurant]:
    """Order by count descending, ties by restaurant id; rank from 1, or on from ``after``."""
    ordered = sorted(candidates, key=lambda pair: (-pair[1], pair[0]))[:first]
    start = after.rank if after is not None else 0
    return [
        RankedRestaurant(rank=start + index + 1, restaurant_id=restaurant_id, favorite_count=count)
        for index, (restaurant_id, count) in enumerate(ordered)
    ]


def encode_cursor(row: RankedRestaurant, bucket: str, key: bytes) -> str:
    """An opaque, signed position in one bucket's ranking (the bucket is in the MAC only).

    Not tied to a user: rankings are the same for everybody, on both routes.
    """
    payload = {"n": row.rank, "r": row.restaurant_id, "c": row.favorite_count}
    return cursors.seal(payload, key=key, version=CURSOR_VERSION, scope=bucket)


def decode_cursor(cursor: str, bucket: str, key: bytes) -> RankedRestaurant:
    try:
        payload = cursors.unseal(cursor, key=key, version=CURSOR_VERSION, scope=bucket)
    except cursors.BadCursor:
        raise InvalidInput(BAD_CURSOR) from None
    rank, restaurant_id, count = payload.get("n"), payload.get("r"), payload.get("c")
    # Signed by us, so well formed unless the key leaked; checked all the same.
    if not (
        type(rank) is int and rank >= 1 and type(count) is int and count >= 1
    ) or not is_valid_id(restaurant_id):
        raise InvalidInput(BAD_CURSOR)
    return RankedRestaurant(rank=rank, restaurant_id=str(restaurant_id), favorite_count=count)


@dataclass(frozen=True)
class RankingPage:
    rows: list[RankedRestaurant]
    # Whether the ranking goes on after the last row: exact, from the rows the page
    # read anyway (one past the page), except after a cut tie run (see RankingStore.top).
    has_next_page: bool


@dataclass(frozen=True)
class _ShardTop:
    pairs: list[tuple[str, int]]
    # The boundary count whose ties were cut by the tie read limit; None when all were read.
    cut_at: int | None = None
    # Whether the partition holds rows after the page's start that ``pairs`` leaves out.
    beyond: bool = False


class RankingStore:
    def __init__(
        self,
        client: DynamoDBClient,
        table_name: str,
        shards: int,
        *,
        tie_read_limit: int = DEFAULT_RANKING_TIE_READ_LIMIT,
        cursor_key: bytes = DEV_CURSOR_SECRET.encode(),
    ) -> None:
        if tie_read_limit < 1:
            raise ValueError(f"tie_read_limit must be at least 1, got {tie_read_limit}")
        self._client = client
        self._table = table_name
        self._shards = shards
        self._tie_read_limit = tie_read_limit
        self._cursor_key = cursor_key

    def _read(
        self,
        partition: str,
        condition: str,
        values: dict[str, Any],
        limit: int,
        *,
        id_after: str | None = None,
    ) -> tuple[list[tuple[str, int]], bool]:
        """(restaurant_id, count) pairs of one ranking partition, highest first, from at
        most ``limit`` index items read, and whether the partition may hold more.

        ``id_after`` keeps only ids above it; the index cannot seek by id, so the
        items it drops are read (and counted against ``limit``) all the same.
        """
        query: dict[str, Any] = {
            "TableName": self._table,
            "IndexName": BY_COUNT_INDEX,
            "KeyConditionExpression": f"rank_partition = :partition AND {condition}",
            "ExpressionAttributeValues": {":partition": {"S": partition}, **values},
            "ScanIndexForward": False,
        }
        if id_after is not None:
            query["FilterExpression"] = "restaurant_id > :after"
            query["ExpressionAttributeValues"][":after"] = {"S": id_after}
        pairs: list[tuple[str, int]] = []
        read = 0
        while True:
            # The index is KEYS_ONLY (about 70 bytes an item): one 1 MB page holds
            # thousands, so a read within the limit is usually one round trip.
            query["Limit"] = limit - read
            response = self._client.query(**query)
            items = response.get("Items", [])
            read += response.get("ScannedCount", len(items))
            pairs.extend(
                (item["restaurant_id"]["S"], int(item["favorite_count"]["N"])) for item in items
            )
            if "LastEvaluatedKey" not in response:
                return pairs, False
            if read >= limit:
                return pairs, True
            query["ExclusiveStartKey"] = response["LastEvaluatedKey"]

    def _shard_page(self, partition: str, first: int, after: RankedRestaurant | None) -> _ShardTop:
        """This partition's first ``first`` rows after ``after`` (from the top without
        it), plus the items tied with the last one.

        The index orders by count only, so which of several equal counts comes
        first is not defined; reading the ties at the boundary makes the answer
        exact and the order by restaurant id stable. That read stops after
        ``tie_read_limit`` items: past it, the tied restaurants listed are
        those read (the counts and the number of rows stay right).

        After a cursor, the page starts with the rest of the cursor's own run of
        ties (same count, higher ids), then reads strictly lower counts: never a
        row above the cursor, however deep it is.
        """
        rows: list[tuple[str, int]] = []
        cut: int | None = None
        if after is None:
            condition, values = "favorite_count > :zero", {":zero": {"N": "0"}}
        else:
            at = after.favorite_count
            rows, more = self._read(
                partition,
                "favorite_count = :at",
                {":at": {"N": str(at)}},
                self._tie_read_limit,
                id_after=after.restaurant_id,
            )
            cut = at if more else None
            if len(rows) > first or at <= 1:
                return _ShardTop(rows, cut, beyond=more)
            if len(rows) == first:
                # The page ends with the cursor's run of ties: one item of a lower
                # count says whether the ranking goes on.
                below, _ = self._read(
                    partition,
                    "favorite_count BETWEEN :one AND :below",
                    {":one": {"N": "1"}, ":below": {"N": str(at - 1)}},
                    1,
                )
                return _ShardTop(rows, cut, beyond=more or bool(below))
            condition = "favorite_count BETWEEN :one AND :below"
            values = {":one": {"N": "1"}, ":below": {"N": str(at - 1)}}
        need = first - len(rows)
        # One item past ``need``: when it counts less than the boundary, every
        # tie is already here and the second read below is not needed.
        top, _ = self._read(partition, condition, values, need + 1)
        if len(top) <= need:
            # Fewer than asked for: the partition ends here.
            return _ShardTop(rows + top, cut, beyond=cut is not None)
        if top[need][1] < top[need - 1][1]:
            return _ShardTop(rows + top[:need], cut, beyond=True)
        boundary = top[need - 1][1]
        ties, more = self._read(
            partition,
            "favorite_count = :boundary",
            {":boundary": {"N": str(boundary)}},
            self._tie_read_limit,
        )
        # Keep the first read's ties too: however small the limit, at least
        # ``first`` rows remain.
        candidates = dict(rows)
        candidates.update(top)
        candidates.update(ties)
        # More than ``need`` candidates: the ranking goes on after the page whatever else
        # the partition holds.
        return _ShardTop(list(candidates.items()), boundary if more else cut, beyond=True)

    def top(
        self, bucket: str, first: int, after: RankedRestaurant | None = None
    ) -> list[RankedRestaurant]:
        """The ranking of ``bucket``: its first ``first`` rows, or those after ``after``."""
        return self.top_page(bucket, first, after).rows

    def top_page(
        self, bucket: str, first: int, after: RankedRestaurant | None = None
    ) -> RankingPage:
        """``top``, and whether the ranking goes on after it.

        ``has_next_page`` comes from what the page reads anyway (each partition
        reads one item past its rows), so it is exact at no cost, with one
        exception of one item: a page after a cursor that ends exactly at the end
        of the cursor's run of ties reads one item of a lower count. Where a
        tie run was cut by the tie read limit, the ranking is said to go on.
        """
        if not 1 <= first <= MAX_TOP:
            raise InvalidInput(f"first must be between 1 and {MAX_TOP}, got {first}")
        partitions = rank_partitions(bucket, self._shards)
        if len(partitions) == 1:
            shard_tops = [self._shard_page(partitions[0], first, after)]
        else:
            # boto3 clients are thread-safe; shards are independent queries.
            with ThreadPoolExecutor(max_workers=min(len(partitions), 16)) as pool:
                shard_tops = list(
                    pool.map(
                        lambda partition: self._shard_page(partition, first, after), partitions
                    )
                )
        candidates = [pair for shard in shard_tops for pair in shard.pairs]
        ranked = merge_top(candidates, first, after)
        has_next = len(candidates) > first or any(shard.beyond for shard in shard_tops)
        cuts = {shard.cut_at for shard in shard_tops if shard.cut_at is not None}
        # A cut matters only where the answer reaches into that run of ties.
        if ranked and any(cut >= ranked[-1].favorite_count for cut in cuts):
            logger.info(
                "top %s: ties at count %d exceed RANKING_TIE_READ_LIMIT=%d per shard; "
                "the tied restaurants listed are the ones read",
                bucket,
                max(cuts),
                self._tie_read_limit,
            )
        return RankingPage(ranked, has_next)

    def page(self, bucket: str, first: int, after: str | None = None) -> list[RankedRestaurant]:
        """``top`` from a cursor this store issued for the same bucket (``cursor``)."""
        return self.cursor_page(bucket, first, after).rows

    def cursor_page(self, bucket: str, first: int, after: str | None = None) -> RankingPage:
        """``top_page`` from a cursor this store issued for the same bucket (``cursor``)."""
        position = None if after is None else decode_cursor(after, bucket, self._cursor_key)
        return self.top_page(bucket, first, position)

    def cursor(self, row: RankedRestaurant, bucket: str) -> str:
        return encode_cursor(row, bucket, self._cursor_key)

    def counts(self, restaurant_ids: list[str], bucket: str) -> dict[str, int]:
        """Each restaurant's count in ``bucket`` (0 without an item): one BatchGetItem
        per 100 ids."""
        items = batch_get(
            lambda request: self._client.batch_get_item(**request),
            self._table,
            (
                {"restaurant_id": {"S": restaurant_id}, "bucket": {"S": bucket}}
                for restaurant_id in restaurant_ids
            ),
            projection="restaurant_id, favorite_count",
        )
        # Clamped: no restaurant has fewer than zero favorites, so a negative
        # item is drift, never an answer. Clamping hides it from clients only:
        # the reconciler scans the raw items, so drift in any bucket still in
        # retention is reported and repaired. (The stream no longer writes to
        # expired day buckets, the one known way an item went below zero.)
        found = {
            item["restaurant_id"]["S"]: max(0, int(item["favorite_count"]["N"]))
            for item in items
            if "favorite_count" in item
        }
        return {restaurant_id: found.get(restaurant_id, 0) for restaurant_id in restaurant_ids}
