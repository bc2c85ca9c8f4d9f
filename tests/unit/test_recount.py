"""The export recount: the SQL agrees with the Tally, DuckDB reads an export, the Athena adapter."""

from __future__ import annotations

import gzip
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import boto3
import pytest
from moto import mock_aws

from chalicelib.reconcile.tally import Retention, Tally
from chalicelib.windows import DAY_PREFIX, format_timestamp, in_retention
from local.processes import wait_until
from ops.reconcile import REFUSED
from ops.recount import duck, export
from ops.recount.__main__ import main
from ops.recount.athena import AthenaRecount, RecountFailed
from ops.recount.sql import Dialect, first_kept_day, recount_query

NOW = datetime(2026, 3, 1, 13, 30, tzinfo=UTC)
RETENTION = 30


def favorite(restaurant: str | None, created_at: str | None) -> dict[str, Any]:
    item: dict[str, Any] = {"user_id": {"S": "u"}}
    if restaurant is not None:
        item["restaurant_id"] = {"S": restaurant}
    if created_at is not None:
        item["created_at"] = {"S": created_at}
    return item


def items() -> list[dict[str, Any]]:
    """Every day of the last 90 (the retention edge among them), and the odd ones."""
    found = [
        favorite(f"r{day % 7}", format_timestamp(NOW - timedelta(days=day, minutes=day)))
        for day in range(90)
        for _ in range(day % 3 + 1)
    ]
    return [
        *found,
        favorite("r1", "2025-12-31T23:59:59.999999Z"),
        favorite("bad id", format_timestamp(NOW)),
        favorite("-leading-dash", format_timestamp(NOW)),
        favorite("r1", "2025-02-29T10:00:00.000Z"),  # no such day
        favorite("r1", "2025-01-01T24:00:00.000Z"),
        favorite("r1", "2025-01-01T10:00:00.000+01:00"),
        favorite("r1", "2025-01-01T10:00:00.0000000Z"),  # seven digits
        favorite("r1", None),
        favorite(None, format_timestamp(NOW)),
        favorite("x" * 129, format_timestamp(NOW)),
    ]


def tallied(favorites: list[dict[str, Any]]) -> Tally:
    tally = Tally(retention=Retention(NOW.timestamp(), RETENTION))
    for item in favorites:
        tally.add(item)
    return tally


def test_duckdb_recount_is_the_tally(tmp_path: Path) -> None:
    export.write_export(items(), tmp_path)
    recounted = duck.recount(tmp_path, retention_days=RETENTION, now=NOW.timestamp())
    expected = tallied(items())
    assert (recounted.favorites, recounted.unplaceable) == (expected.favorites, 9)
    assert recounted.unplaceable == expected.unplaceable
    assert recounted.counts == expected.counts
    # Days outside retention are dropped, the months they fall in kept.
    assert ("r1", f"{DAY_PREFIX}2025-12-31") not in recounted.counts
    assert recounted.counts[("r1", "MONTH#2025-12")] >= 1


def test_an_empty_export_recounts_to_nothing(tmp_path: Path) -> None:
    export.write_export([], tmp_path)
    recounted = duck.recount(tmp_path, retention_days=RETENTION, now=NOW.timestamp())
    assert (recounted.favorites, recounted.unplaceable, dict(recounted.counts)) == (0, 0, {})


@pytest.mark.parametrize("hours", [0, 1, 13, 23, 24, 25, 47])
def test_first_kept_day_is_where_retention_starts(hours: int) -> None:
    now = (NOW.replace(hour=0, minute=0) + timedelta(hours=hours)).timestamp()
    first = datetime.fromisoformat(first_kept_day(now, RETENTION)).date()
    assert in_retention(f"{DAY_PREFIX}{first}", now, RETENTION)
    assert not in_retention(f"{DAY_PREFIX}{first - timedelta(days=1)}", now, RETENTION)


def test_duckdb_reads_an_export_another_implementation_wrote(tmp_path: Path) -> None:
    """moto's ExportTableToPointInTime (DynamoDB JSON, gzip'd, under AWSDynamoDB/)."""
    favorites = [i for i in items() if "restaurant_id" in i and "created_at" in i]
    for number, item in enumerate(favorites):
        item["user_id"] = {"S": f"u{number}"}
    with mock_aws():
        dynamodb = boto3.client("dynamodb", region_name="us-east-1")
        s3 = boto3.client("s3", region_name="us-east-1")
        s3.create_bucket(Bucket="exports")
        arn = dynamodb.create_table(
            TableName="favorites",
            KeySchema=[
                {"AttributeName": "restaurant_id", "KeyType": "HASH"},
                {"AttributeName": "user_id", "KeyType": "RANGE"},
            ],
            AttributeDefinitions=[
                {"AttributeName": "restaurant_id", "AttributeType": "S"},
                {"AttributeName": "user_id", "AttributeType": "S"},
            ],
            BillingMode="PAY_PER_REQUEST",
        )["TableDescription"]["TableArn"]
        # As in the stack (infra/tables.json): an export needs point-in-time recovery.
        dynamodb.update_continuous_backups(
            TableName="favorites",
            PointInTimeRecoverySpecification={"PointInTimeRecoveryEnabled": True},
        )
        for item in favorites:
            dynamodb.put_item(TableName="favorites", Item=item)
        started = dynamodb.export_table_to_point_in_time(
            TableArn=arn, S3Bucket="exports", S3Prefix="exports", ExportFormat="DYNAMODB_JSON"
        )
        export_arn = started["ExportDescription"]["ExportArn"]

        def finished() -> dict[str, Any] | None:
            # moto writes the export from a thread of its own, as AWS does in the background.
            status = dynamodb.describe_export(ExportArn=export_arn)["ExportDescription"]
            return None if status["ExportStatus"] == "IN_PROGRESS" else status

        status = wait_until(finished, 10.0, "moto's export", interval=0.02)
        assert status["ExportStatus"] == "COMPLETED"
        for found in s3.list_objects_v2(Bucket="exports")["Contents"]:
            path = tmp_path / found["Key"]
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_bytes(s3.get_object(Bucket="exports", Key=found["Key"])["Body"].read())
    (data,) = tmp_path.glob("exports/AWSDynamoDB/*/data/*.gz")
    with gzip.open(data, "rt") as lines:
        assert lines.readline().startswith('{"Item": {')
    recounted = duck.recount(tmp_path, retention_days=RETENTION, now=NOW.timestamp())
    expected = tallied(favorites)
    assert recounted.favorites == expected.favorites == len(favorites)
    assert recounted.counts == expected.counts


class FakeDynamoDB:
    def __init__(self, statuses: list[str]) -> None:
        self.statuses = statuses
        self.exports: list[dict[str, Any]] = []

    def export_table_to_point_in_time(self, **kwargs: Any) -> Any:
        self.exports.append(kwargs)
        return {"ExportDescription": {"ExportArn": "arn:export/1", "ExportStatus": "IN_PROGRESS"}}

    def describe_export(self, **kwargs: Any) -> Any:
        assert kwargs == {"ExportArn": "arn:export/1"}
        status = self.statuses.pop(0)
        return {
            "ExportDescription": {
                "ExportStatus": status,
                "ItemCount": 12,
                "FailureMessage": "table gone",
                "ExportManifest": "exports/AWSDynamoDB/0170-abc/manifest-summary.json",
            }
        }


class FakeAthena:
    """Queries run one poll later; results in pages of two rows after the header."""

    def __init__(self, rows: list[list[str | None]], state: str = "SUCCEEDED") -> None:
        self.rows = rows
        self.state = state
        self.queries: list[dict[str, Any]] = []
        self.polls = 0

    def start_query_execution(self, **kwargs: Any) -> Any:
        self.queries.append(kwargs)
        return {"QueryExecutionId": str(len(self.queries))}

    def get_query_execution(self, **kwargs: Any) -> Any:
        self.polls += 1
        is_select = self.queries[int(kwargs["QueryExecutionId"]) - 1]["QueryString"].lstrip()
        state = self.state if is_select.startswith("WITH") else "SUCCEEDED"
        if self.polls % 2:
            state = "RUNNING"
        return {
            "QueryExecution": {
                "Status": {"State": state, "StateChangeReason": "Bytes scanned limit exceeded"},
                "Statistics": {"DataScannedInBytes": 1000},
            }
        }

    def get_query_results(self, **kwargs: Any) -> Any:
        query = self.queries[int(kwargs["QueryExecutionId"]) - 1]["QueryString"].lstrip()
        rows = self.rows if query.startswith("WITH") else []
        header: list[list[str | None]] = (
            [["restaurant_id", "bucket", "favorites"]] if query.startswith("WITH") else []
        )
        table: list[list[str | None]] = [*header, *rows]
        start = int(kwargs.get("NextToken", 0))
        page = table[start : start + 2]
        result: dict[str, Any] = {
            "ResultSet": {
                "Rows": [
                    {"Data": [{} if value is None else {"VarCharValue": value} for value in row]}
                    for row in page
                ]
            }
        }
        if start + 2 < len(table):
            result["NextToken"] = str(start + 2)
        return result


def adapter(dynamodb: FakeDynamoDB, athena: FakeAthena) -> AthenaRecount:
    return AthenaRecount(
        dynamodb=dynamodb,
        athena=athena,
        table_arn="arn:table/favorites",
        bucket="the-bucket",
        workgroup="wg",
        database="db",
        sleep=lambda _: None,
    )


def test_athena_adapter_exports_waits_queries_and_drops_its_table() -> None:
    dynamodb = FakeDynamoDB(["IN_PROGRESS", "IN_PROGRESS", "COMPLETED"])
    rows: list[list[str | None]] = [
        ["r1", "ALL", "3"],
        ["r1", "MONTH#2026-02", "2"],
        ["r1", "DAY#2026-02-27", "1"],
        [None, "#favorites", "4"],
        [None, "#unplaceable", "1"],
    ]
    athena = FakeAthena(rows)
    recount = adapter(dynamodb, athena)

    location = recount.export()
    tally = recount.recount(location, now=NOW.timestamp(), retention_days=RETENTION)

    assert location == "s3://the-bucket/exports/AWSDynamoDB/0170-abc/data/"
    assert dynamodb.exports == [
        {
            "TableArn": "arn:table/favorites",
            "S3Bucket": "the-bucket",
            "S3Prefix": "exports",
            "ExportFormat": "DYNAMODB_JSON",
        }
    ]
    create, select, drop = (query["QueryString"] for query in athena.queries)
    assert "LOCATION 's3://the-bucket/exports/AWSDynamoDB/0170-abc/data/'" in create
    assert "CREATE EXTERNAL TABLE `db`.`favorites_0170_abc`" in create
    # The very query DuckDB runs, in Athena's spelling of a regex match.
    assert select == recount_query(
        '"db"."favorites_0170_abc"',
        dialect=Dialect.ATHENA,
        now=NOW.timestamp(),
        retention_days=RETENTION,
    )
    assert drop == "DROP TABLE IF EXISTS `db`.`favorites_0170_abc`"
    assert all(q["WorkGroup"] == "wg" for q in athena.queries)
    assert dict(tally.counts) == {
        ("r1", "ALL"): 3,
        ("r1", "MONTH#2026-02"): 2,
        ("r1", "DAY#2026-02-27"): 1,
    }
    assert (tally.favorites, tally.unplaceable) == (4, 1)
    assert recount.facts == {
        "export_arn": "arn:export/1",
        "exported_items": 12,
        "bytes_scanned": 3000,
    }


def test_a_failed_export_says_why() -> None:
    recount = adapter(FakeDynamoDB(["IN_PROGRESS", "FAILED"]), FakeAthena([]))
    with pytest.raises(RecountFailed, match="FAILED: table gone"):
        recount.export()


def test_a_query_over_the_cutoff_fails_the_run_and_still_drops_the_table() -> None:
    athena = FakeAthena([], state="CANCELLED")
    recount = adapter(FakeDynamoDB([]), athena)
    with pytest.raises(RecountFailed, match="CANCELLED: Bytes scanned limit exceeded"):
        recount.recount("s3://b/exports/AWSDynamoDB/e1/data/", now=0.0, retention_days=1)
    assert athena.queries[-1]["QueryString"] == "DROP TABLE IF EXISTS `db`.`favorites_e1`"


def test_a_repair_on_a_deployed_stage_waits_for_ignore_lag(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """As ops.reconcile: the stage's stream lag cannot be read from here."""
    export.write_export(items(), tmp_path)
    assert main(["--duckdb", str(tmp_path), "--stage", "dev", "--repair"]) == REFUSED
    assert "--ignore-lag" in capsys.readouterr().err
