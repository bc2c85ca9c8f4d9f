"""The reconciler's entry points on moto: the daily schedule and the command line."""

from __future__ import annotations

import io
import json
from typing import Any

from rich.console import Console

from ops.reconcile import ProgressBar, main
from tests.support import COUNTS_TABLE, FAVORITES_TABLE


def seed(dynamodb: Any) -> None:
    dynamodb.put_item(
        TableName=FAVORITES_TABLE,
        Item={
            "restaurant_id": {"S": "r1"},
            "user_id": {"S": "u1"},
            "created_at": {"S": "2026-11-23T10:00:00.000Z"},
        },
    )
    # ALL is wrong (2, not 1); the month and the day items are missing.
    dynamodb.put_item(
        TableName=COUNTS_TABLE,
        Item={"restaurant_id": {"S": "r1"}, "bucket": {"S": "ALL"}, "favorite_count": {"N": "2"}},
    )


def count(dynamodb: Any) -> str:
    key = {"restaurant_id": {"S": "r1"}, "bucket": {"S": "ALL"}}
    return str(dynamodb.get_item(TableName=COUNTS_TABLE, Key=key)["Item"]["favorite_count"]["N"])


def test_the_daily_schedule_reports_drift_and_repairs_nothing(client, dynamodb):
    seed(dynamodb)
    event = client.events.generate_cw_event(
        source="aws.events", detail_type="Scheduled Event", detail={}, resources=[]
    )
    summary = client.lambda_.invoke("reconcile_counts", event).payload
    assert summary["favorites"] == 1
    assert summary["drift"] >= 2  # ALL and MONTH; the day only while inside retention
    assert summary["repaired"] == 0
    assert count(dynamodb) == "2"


def test_the_command_line_reports_then_repairs(dynamodb, capsys):
    # --environment: the tables this process's settings name (here, moto's).
    seed(dynamodb)
    assert main(["--environment"]) == 1
    out = capsys.readouterr().out.splitlines()
    first = json.loads(out[0])
    assert first == {"restaurant_id": "r1", "bucket": "ALL", "expected": 1, "actual": 2}
    assert count(dynamodb) == "2"
    assert main(["--environment", "--repair"]) == 0
    assert count(dynamodb) == "1"
    assert main(["--environment"]) == 0


def test_the_progress_bar_counts_pages_from_every_segment():
    stream = io.StringIO()
    bar = ProgressBar({"favorites": 10, "counts": 0}, Console(file=stream, width=100))
    bar("favorites", 4)
    bar("favorites", 1)
    bar("counts", 3)
    bar.close()
    lines = stream.getvalue().splitlines()
    assert [line.split()[0] for line in lines] == ["favorites", "counts"]
    # Half of the item count, and a total that grew to what was scanned.
    assert "5/~10" in lines[0].split()
    assert "3/~3" in lines[1].split()
    assert lines[0].count("━") * 2 == lines[1].count("━") > 0  # a half and a full bar


def test_the_command_lines_progress_total_is_the_tables_item_count(dynamodb):
    # Asked by ops/reconcile.py with the caller's credentials, so the daily
    # Lambda's role needs no DescribeTable.
    from ops.reconcile import approximate_items

    seed(dynamodb)
    assert approximate_items(dynamodb, FAVORITES_TABLE) == 1
    assert approximate_items(dynamodb, COUNTS_TABLE) == 1
