"""Move count items to the ranking partitions a new ``RANKING_SHARDS`` puts them in.

    python -m ops.reshard --stage local --shards 16

Safe to run while the service is live: each move is an ``UpdateItem``
conditional on the item still being in the partition the scan saw, so an item
the stream handler moved (or TTL deleted) meanwhile is left alone. It is
idempotent (items already in place are not written) and resumable: the scan
position is saved after each page, and ``--resume`` continues from it.

Order for a live change: deploy the new ``RANKING_SHARDS`` (the stream handler
then writes new partitions, and reads ask the new shards), then run this at
once; until it finishes, items not yet moved are missing from rankings. Items
the handler updates move themselves, since every update sets ``rank_partition``.
Without ``--stage local`` it talks to AWS with the usual credential chain.
"""

from __future__ import annotations

import argparse
import json
import sys
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from botocore.exceptions import ClientError

from chalicelib.services import Services
from chalicelib.settings import from_environment
from chalicelib.sharding import PartitionMismatch, expected_partition_mismatches
from infra import stages

if TYPE_CHECKING:
    from mypy_boto3_dynamodb import DynamoDBClient

DEFAULT_CHECKPOINT = Path(".data") / "reshard-checkpoint.json"


@dataclass
class ReshardReport:
    pages: int = 0
    scanned: int = 0
    moved: int = 0
    changed_meanwhile: int = 0
    finished: bool = False


def move_item(client: DynamoDBClient, table: str, mismatch: PartitionMismatch) -> bool:
    """Set the expected partition if the item has not moved since it was read."""
    condition = (
        "rank_partition = :old"
        if mismatch.actual is not None
        # Never create an item that has gone: it must still exist as a count.
        else "attribute_exists(favorite_count) AND attribute_not_exists(rank_partition)"
    )
    values: dict[str, Any] = {":new": {"S": mismatch.expected}}
    if mismatch.actual is not None:
        values[":old"] = {"S": mismatch.actual}
    try:
        client.update_item(
            TableName=table,
            Key={"restaurant_id": {"S": mismatch.restaurant_id}, "bucket": {"S": mismatch.bucket}},
            UpdateExpression="SET rank_partition = :new",
            ConditionExpression=condition,
            ExpressionAttributeValues=values,
        )
    except ClientError as error:
        if error.response.get("Error", {}).get("Code") != "ConditionalCheckFailedException":
            raise
        return False
    return True


def _load_checkpoint(path: Path, table: str, shards: int) -> dict[str, Any] | None:
    if not path.exists():
        return None
    saved = json.loads(path.read_text())
    # A checkpoint of another table or shard count says nothing about this run.
    if saved.get("table") != table or saved.get("shards") != shards:
        return None
    start: dict[str, Any] | None = saved.get("start_key")
    return start


def _save_checkpoint(path: Path, table: str, shards: int, start_key: dict[str, Any]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    temporary = path.with_suffix(".tmp")
    temporary.write_text(json.dumps({"table": table, "shards": shards, "start_key": start_key}))
    temporary.replace(path)


def reshard(
    client: DynamoDBClient,
    table: str,
    shards: int,
    *,
    checkpoint: Path | None = None,
    resume: bool = False,
    page_size: int | None = None,
    max_pages: int | None = None,
    threads: int = 8,
) -> ReshardReport:
    """Scan ``table`` and move every misplaced count item; see the module docstring."""
    report = ReshardReport()
    scan: dict[str, Any] = {
        "TableName": table,
        "ProjectionExpression": "restaurant_id, #bucket, rank_partition, favorite_count",
        "ExpressionAttributeNames": {"#bucket": "bucket"},
    }
    if page_size is not None:
        scan["Limit"] = page_size
    if resume and checkpoint is not None:
        start = _load_checkpoint(checkpoint, table, shards)
        if start is not None:
            scan["ExclusiveStartKey"] = start
    with ThreadPoolExecutor(max_workers=threads) as pool:
        while max_pages is None or report.pages < max_pages:
            page = client.scan(**scan)
            items = page.get("Items", [])
            report.pages += 1
            report.scanned += len(items)
            mismatches = expected_partition_mismatches(items, shards)
            for moved in pool.map(lambda m: move_item(client, table, m), mismatches):
                if moved:
                    report.moved += 1
                else:
                    report.changed_meanwhile += 1
            last = page.get("LastEvaluatedKey")
            if last is None:
                report.finished = True
                break
            scan["ExclusiveStartKey"] = last
            # Saved only once the page's moves are done: a resume redoes no less.
            if checkpoint is not None:
                _save_checkpoint(checkpoint, table, shards, dict(last))
    if report.finished and checkpoint is not None:
        checkpoint.unlink(missing_ok=True)
    return report


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--stage", default="local", help="stage in .chalice/config.json")
    parser.add_argument("--shards", type=int, help="new shard count (default: the stage's)")
    parser.add_argument("--resume", action="store_true", help="continue from the checkpoint")
    parser.add_argument("--checkpoint", type=Path, default=DEFAULT_CHECKPOINT)
    args = parser.parse_args(argv)
    if args.shards is not None and not 1 <= args.shards <= 256:
        parser.error("--shards must be between 1 and 256, like RANKING_SHARDS")

    # The stage's variables on top of this process's (region, credentials).
    services = Services(from_environment(stages.stage(args.stage).environment))
    settings = services.settings
    shards = args.shards or settings.ranking_shards
    report = reshard(
        services.dynamodb(),
        settings.counts_table,
        shards,
        checkpoint=args.checkpoint,
        resume=args.resume,
    )
    print(
        f"{settings.counts_table}: {report.scanned} items scanned in {report.pages} pages, "
        f"{report.moved} moved to {shards} shards, "
        f"{report.changed_meanwhile} changed meanwhile (left alone)"
    )
    return 0 if report.finished else 1


if __name__ == "__main__":
    sys.exit(main())
