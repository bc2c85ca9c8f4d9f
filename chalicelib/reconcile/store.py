"""Scans, consistent reads and compare-and-add writes on the two tables."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from concurrent.futures import ThreadPoolExecutor
from typing import TYPE_CHECKING, Any, TypeVar

from botocore.exceptions import ClientError

from chalicelib.counts import count_item_update
from chalicelib.reconcile.tally import CountsSnapshot, Item, Retention, Tally

if TYPE_CHECKING:
    from mypy_boto3_dynamodb import DynamoDBClient

Progress = Callable[[str, int], None]  # (table being scanned, items in the page just read)
T = TypeVar("T")


def no_progress(table: str, items: int) -> None:
    pass


class ReconcileStore:
    """Scans, consistent reads and compare-and-add writes on the two tables."""

    def __init__(
        self,
        client: DynamoDBClient,
        favorites_table: str,
        counts_table: str,
        *,
        segments: int,
    ) -> None:
        self._client = client
        self.favorites_table = favorites_table
        self.counts_table = counts_table
        self._segments = segments

    @property
    def tables(self) -> tuple[str, str]:
        return (self.counts_table, self.favorites_table)

    def _scan(
        self,
        table: str,
        projection: str,
        fresh: Callable[[], T],
        add: Callable[[T, Item], None],
        progress: Progress,
    ) -> list[T]:
        """A parallel scan: one thread per segment, each folding its pages into ``fresh()``."""

        def segment(number: int) -> T:
            folded = fresh()
            args: dict[str, Any] = {
                "TableName": table,
                "Segment": number,
                "TotalSegments": self._segments,
                "ProjectionExpression": projection,
                "ExpressionAttributeNames": {"#b": "bucket"} if "#b" in projection else None,
                # The stream and the repair rely on what was read being current.
                "ConsistentRead": True,
            }
            if args["ExpressionAttributeNames"] is None:
                del args["ExpressionAttributeNames"]
            while True:
                page = self._client.scan(**args)
                items = page.get("Items", [])
                for item in items:
                    add(folded, item)
                progress(table, len(items))
                if "LastEvaluatedKey" not in page:
                    return folded
                args["ExclusiveStartKey"] = page["LastEvaluatedKey"]

        with ThreadPoolExecutor(self._segments, thread_name_prefix="reconcile-scan") as pool:
            return list(pool.map(segment, range(self._segments)))

    def scan_favorites(
        self, progress: Progress = no_progress, retention: Retention | None = None
    ) -> Tally:
        """Every favorite tallied; with a ``retention``, only the day buckets it keeps."""
        parts = self._scan(
            self.favorites_table,
            "restaurant_id, created_at",
            lambda: Tally(retention=retention),
            Tally.add,
            progress,
        )
        return _merge(parts, Tally(), Tally.merge)

    def scan_counts(self, progress: Progress = no_progress) -> CountsSnapshot:
        parts = self._scan(
            self.counts_table,
            # "bucket" is a DynamoDB reserved word.
            "restaurant_id, #b, favorite_count, rank_partition",
            CountsSnapshot,
            CountsSnapshot.add,
            progress,
        )
        return _merge(parts, CountsSnapshot(), CountsSnapshot.merge)

    def recount(self, restaurant_id: str) -> Tally:
        """One restaurant's favorites, counted now (a consistent query of its partition)."""
        tally = Tally()
        args: dict[str, Any] = {
            "TableName": self.favorites_table,
            "KeyConditionExpression": "restaurant_id = :r",
            "ExpressionAttributeValues": {":r": {"S": restaurant_id}},
            "ProjectionExpression": "restaurant_id, created_at",
            "ConsistentRead": True,
        }
        while True:
            page = self._client.query(**args)
            for item in page.get("Items", []):
                tally.add(item)
            if "LastEvaluatedKey" not in page:
                return tally
            args["ExclusiveStartKey"] = page["LastEvaluatedKey"]

    def read_count(self, restaurant_id: str, bucket: str) -> int | None:
        """The count as stored now; ``None`` when there is no count."""
        item = self._client.get_item(
            TableName=self.counts_table,
            Key={"restaurant_id": {"S": restaurant_id}, "bucket": {"S": bucket}},
            ProjectionExpression="favorite_count",
            ConsistentRead=True,
        ).get("Item")
        if not item or "favorite_count" not in item:
            return None
        return int(item["favorite_count"]["N"])

    def compare_and_add(
        self,
        restaurant_id: str,
        bucket: str,
        *,
        seen: int | None,
        difference: int,
        now: float,
        shards: int,
        day_retention_days: int,
    ) -> bool:
        """Add ``difference`` if the count is still ``seen``; ``False`` when it moved."""
        update, values = count_item_update(
            restaurant_id, bucket, now=now, shards=shards, day_retention_days=day_retention_days
        )
        values[":delta"] = {"N": str(difference)}
        if seen is None:
            condition = "attribute_not_exists(favorite_count)"
        else:
            condition = "favorite_count = :seen"
            values[":seen"] = {"N": str(seen)}
        try:
            self._client.update_item(
                TableName=self.counts_table,
                Key={"restaurant_id": {"S": restaurant_id}, "bucket": {"S": bucket}},
                UpdateExpression=update,
                ConditionExpression=condition,
                ExpressionAttributeValues=values,
            )
        except ClientError as error:
            if error.response.get("Error", {}).get("Code") == "ConditionalCheckFailedException":
                return False
            raise
        return True


def _merge(parts: Iterable[T], start: T, merge: Callable[[T, T], T]) -> T:
    for part in parts:
        start = merge(start, part)
    return start
