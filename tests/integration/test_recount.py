"""The SQL recount over an export equals the in-process scan's tally on the same data."""

from __future__ import annotations

import random
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from chalicelib.reconcile.reconciler import Reconciler
from chalicelib.reconcile.store import ReconcileStore
from chalicelib.reconcile.tally import Drift, Retention
from chalicelib.windows import format_timestamp
from ops.recount import duck, export
from ops.recount.__main__ import main
from tests.support import COUNTS_TABLE, FAVORITES_TABLE

pytestmark = pytest.mark.integration

RETENTION_DAYS = 30


def put_all(dynamodb: Any, items: list[dict[str, Any]]) -> None:
    for start in range(0, len(items), 25):
        requests = [{"PutRequest": {"Item": item}} for item in items[start : start + 25]]
        pending: dict[str, Any] = {FAVORITES_TABLE: requests}
        while pending:
            pending = dynamodb.batch_write_item(RequestItems=pending).get("UnprocessedItems", {})


def favorites(now: datetime) -> list[dict[str, Any]]:
    """3,000 favorites over 400 days (most days outside retention), and a few the
    stream would not count: a bad id, timestamps that are not UTC ISO 8601."""
    pick = random.Random(19)
    items = [
        {
            "restaurant_id": {"S": f"r{pick.randrange(40)}"},
            "user_id": {"S": f"u{number}"},
            "created_at": {
                "S": format_timestamp(now - timedelta(seconds=pick.randrange(400 * 86_400)))
            },
        }
        for number in range(3_000)
    ]
    unplaceable = [
        ("bad id!", format_timestamp(now)),
        ("r1", "2025-13-01T00:00:00.000Z"),  # month 13
        ("r1", "2025-01-01T24:00:00.000Z"),  # a cast reads the next midnight
        ("r1", "2025-01-01 00:00:00"),
    ]
    items += [
        {"restaurant_id": {"S": r}, "user_id": {"S": f"odd{n}"}, "created_at": {"S": at}}
        for n, (r, at) in enumerate(unplaceable)
    ]
    items.append({"restaurant_id": {"S": "r2"}, "user_id": {"S": "no-date"}})
    return items


def test_duckdb_recount_equals_the_scan(dynamodb: Any, tmp_path: Path) -> None:
    now = datetime.now(UTC)
    put_all(dynamodb, favorites(now))
    retention = Retention(now.timestamp(), RETENTION_DAYS)
    store = ReconcileStore(dynamodb, FAVORITES_TABLE, COUNTS_TABLE, segments=3)

    scanned = store.scan_favorites(retention=retention)
    export.export_from_scan(dynamodb, FAVORITES_TABLE, tmp_path)
    recounted = duck.recount(tmp_path, retention_days=RETENTION_DAYS, now=retention.now)

    assert (recounted.favorites, recounted.unplaceable) == (3_005, 5)
    assert (scanned.favorites, scanned.unplaceable) == (3_005, 5)
    assert recounted.counts == scanned.counts
    days = {bucket for _, bucket in scanned.counts if bucket.startswith("DAY#")}
    months = {bucket for _, bucket in scanned.counts if bucket.startswith("MONTH#")}
    # Days inside retention only (31 or 32 of them), months over all 400 days.
    assert RETENTION_DAYS < len(days) <= RETENTION_DAYS + 2
    assert len(months) >= 13


def test_reconciler_compares_against_the_recount(dynamodb: Any, tmp_path: Path) -> None:
    """No count table yet: the recount's every in-scope bucket is drift, found the
    same by the re-check, and repaired by the reconciler's own compare-and-add."""
    now = datetime.now(UTC)
    put_all(dynamodb, favorites(now)[:300])
    export.export_from_scan(dynamodb, FAVORITES_TABLE, tmp_path)
    store = ReconcileStore(dynamodb, FAVORITES_TABLE, COUNTS_TABLE, segments=2)
    reconciler = Reconciler(
        store, shards=4, day_retention_days=RETENTION_DAYS, sleep=lambda _: None
    )

    def truth(retention: Retention) -> Any:
        return duck.recount(tmp_path, retention_days=retention.days, now=retention.now)

    first = reconciler.run(repair=True, truth=truth)
    expected = duck.recount(tmp_path, retention_days=RETENTION_DAYS, now=time.time())
    assert first.favorites == 300
    assert sorted(first.repaired, key=lambda d: (d.restaurant_id, d.bucket)) == [
        Drift(restaurant, bucket, count, None)
        for (restaurant, bucket), count in sorted(expected.counts.items())
    ]
    again = reconciler.run(truth=truth)
    assert again.drift == []
    assert again.in_flight == []


def test_the_command_exports_the_local_table_and_repairs_from_duckdb(
    dynamodb: Any,
    environment: dict[str, str],
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    """`python -m ops.recount --export-from-scan`, then `--duckdb --repair`, then clean."""
    # --environment: the tables this process's environment names (DynamoDB Local's).
    for name, value in environment.items():
        monkeypatch.setenv(name, value)
    put_all(dynamodb, favorites(datetime.now(UTC))[:50])
    assert main(["--export-from-scan", str(tmp_path), "--environment"]) == 0
    assert main(["--duckdb", str(tmp_path), "--environment"]) == 1  # no counts yet: drift
    assert main(["--duckdb", str(tmp_path), "--environment", "--repair"]) == 0
    capsys.readouterr()
    assert main(["--duckdb", str(tmp_path), "--environment"]) == 0
    assert '"drift": 0' in capsys.readouterr().err
