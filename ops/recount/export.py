"""Files in the layout of a DynamoDB export, where there is no export to read.

An export to S3 in DynamoDB JSON writes ``AWSDynamoDB/<export-id>/data/*.json.gz``
(gzip'd lines of ``{"Item": {...}}``, at least one file per partition) beside
its manifests. DynamoDB Local has no export: the local stack writes the same
files from a scan, and the bench writes synthetic ones.
"""

from __future__ import annotations

import gzip
import json
import random
import uuid
from collections.abc import Iterable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any

from chalicelib.windows import format_timestamp

if TYPE_CHECKING:
    from mypy_boto3_dynamodb import DynamoDBClient

# Items per data file: a real export writes one file per partition or more.
ITEMS_PER_FILE = 100_000


def write_export(items: Iterable[dict[str, Any]], folder: Path, export_id: str = "") -> Path:
    """Write ``items`` as an export under ``folder``; the export's own folder."""
    root = folder / "AWSDynamoDB" / (export_id or uuid.uuid4().hex)
    data = root / "data"
    data.mkdir(parents=True, exist_ok=True)
    files: list[dict[str, Any]] = []
    batch: list[str] = []

    def flush() -> None:
        path = data / f"{uuid.uuid4().hex}.json.gz"
        # compresslevel 1: the bench writes millions of lines; size is not the point.
        with gzip.open(path, "wt", encoding="utf-8", compresslevel=1) as out:
            out.writelines(batch)
        files.append({"itemCount": len(batch), "dataFileS3Key": str(path.relative_to(folder))})
        batch.clear()

    for item in items:
        batch.append(json.dumps({"Item": item}, separators=(",", ":")) + "\n")
        if len(batch) >= ITEMS_PER_FILE:
            flush()
    if batch or not files:
        flush()  # an empty table still exports one (empty) file
    (root / "manifest-files.json").write_text(
        "".join(json.dumps(entry) + "\n" for entry in files), encoding="utf-8"
    )
    (root / "manifest-summary.json").write_text(
        json.dumps(
            {
                "version": "2020-06-30",
                "exportFormat": "DYNAMODB_JSON",
                "itemCount": sum(entry["itemCount"] for entry in files),
                "outputFormat": "DYNAMODB_JSON",
            }
        ),
        encoding="utf-8",
    )
    return root


def scan_items(client: DynamoDBClient, table: str) -> Iterator[dict[str, Any]]:
    """Every item of ``table``, as the export would carry it (a consistent scan)."""
    args: dict[str, Any] = {"TableName": table, "ConsistentRead": True}
    while True:
        page = client.scan(**args)
        yield from page.get("Items", [])
        if "LastEvaluatedKey" not in page:
            return
        args["ExclusiveStartKey"] = page["LastEvaluatedKey"]


def export_from_scan(client: DynamoDBClient, table: str, folder: Path) -> Path:
    """The local stand-in for ExportTableToPointInTime: a scan written as export files."""
    return write_export(scan_items(client, table), folder)


def synthetic_items(
    favorites: int, *, days: int, restaurants: int, now: datetime, seed: int = 0
) -> Iterator[dict[str, Any]]:
    """``favorites`` Favorites items spread over ``restaurants`` and the last ``days`` days."""
    pick = random.Random(seed)
    for number in range(favorites):
        created = now - timedelta(seconds=pick.randrange(days * 86_400))
        yield {
            "restaurant_id": {"S": f"r{pick.randrange(restaurants)}"},
            "user_id": {"S": f"u{number}"},
            "created_at": {"S": format_timestamp(created.astimezone(UTC))},
        }
