"""The recount in AWS: export the Favorites table, query the export with Athena.

:class:`AthenaRecount` is the adapter: it receives its DynamoDB and Athena
clients (boto3's, or fakes in tests) and the stack's names, and yields the
reconciler's Tally from the same query DuckDB runs (``ops.recount.sql``).
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any, Protocol

from chalicelib.reconcile.tally import Tally
from ops.recount.sql import Dialect, recount_query, tally_from_rows

# Where exports land in the stack's bucket (infra/recount.py's lifecycle covers it).
EXPORT_PREFIX = "exports"
POLL_SECONDS = 10.0
# Both can take long on a large table; past these the run is abandoned, not hung.
EXPORT_TIMEOUT_SECONDS = 4 * 3600.0
QUERY_TIMEOUT_SECONDS = 3600.0

# The export's DynamoDB JSON, as Athena's JSON SerDe reads it: only the two
# attributes the recount needs (the SerDe ignores the others).
TABLE_DDL = """
CREATE EXTERNAL TABLE `{database}`.`{table}` (
    Item struct<restaurant_id:struct<S:string>,created_at:struct<S:string>>
)
ROW FORMAT SERDE 'org.openx.data.jsonserde.JsonSerDe'
LOCATION '{location}'
"""


class ExportClient(Protocol):
    def export_table_to_point_in_time(self, **kwargs: Any) -> Any: ...
    def describe_export(self, **kwargs: Any) -> Any: ...


class AthenaClient(Protocol):
    def start_query_execution(self, **kwargs: Any) -> Any: ...
    def get_query_execution(self, **kwargs: Any) -> Any: ...
    def get_query_results(self, **kwargs: Any) -> Any: ...


class RecountFailed(RuntimeError):
    """The export or a query did not complete; the message says which and why."""


@dataclass
class AthenaRecount:
    dynamodb: ExportClient
    athena: AthenaClient
    table_arn: str
    bucket: str
    workgroup: str
    database: str
    clock: Callable[[], float] = time.time
    sleep: Callable[[float], None] = time.sleep
    poll_seconds: float = POLL_SECONDS
    # What the run did, for its log line: the export, its item count, bytes scanned.
    facts: dict[str, Any] = field(default_factory=dict)

    def export(self) -> str:
        """Export the table as of now; the S3 URI of its data files once complete."""
        started = self.dynamodb.export_table_to_point_in_time(
            TableArn=self.table_arn,
            S3Bucket=self.bucket,
            S3Prefix=EXPORT_PREFIX,
            ExportFormat="DYNAMODB_JSON",
        )
        arn = started["ExportDescription"]["ExportArn"]
        self.facts["export_arn"] = arn
        deadline = self.clock() + EXPORT_TIMEOUT_SECONDS
        while True:
            description = self.dynamodb.describe_export(ExportArn=arn)["ExportDescription"]
            status = description["ExportStatus"]
            if status == "COMPLETED":
                break
            if status != "IN_PROGRESS":
                raise RecountFailed(
                    f"export {arn} {status}: {description.get('FailureMessage', 'no reason given')}"
                )
            if self.clock() > deadline:
                raise RecountFailed(f"export {arn} still running after {EXPORT_TIMEOUT_SECONDS} s")
            self.sleep(self.poll_seconds)
        self.facts["exported_items"] = description.get("ItemCount")
        # exports/AWSDynamoDB/<export-id>/manifest-summary.json -> .../<export-id>/data/
        manifest: str = description["ExportManifest"]
        return f"s3://{self.bucket}/{manifest.rsplit('/', 1)[0]}/data/"

    def query(self, sql: str) -> Iterator[list[str | None]]:
        """Run ``sql`` in the workgroup; its result rows (strings, None for NULL)."""
        execution = self.athena.start_query_execution(
            QueryString=sql,
            WorkGroup=self.workgroup,
            QueryExecutionContext={"Database": self.database},
        )["QueryExecutionId"]
        deadline = self.clock() + QUERY_TIMEOUT_SECONDS
        while True:
            found = self.athena.get_query_execution(QueryExecutionId=execution)["QueryExecution"]
            state = found["Status"]["State"]
            if state == "SUCCEEDED":
                break
            if state in ("FAILED", "CANCELLED"):
                # A query over the workgroup's bytes-scanned cutoff ends here, cancelled.
                reason = found["Status"].get("StateChangeReason", "no reason given")
                raise RecountFailed(f"query {execution} {state}: {reason}")
            if self.clock() > deadline:
                raise RecountFailed(
                    f"query {execution} still running after {QUERY_TIMEOUT_SECONDS} s"
                )
            self.sleep(self.poll_seconds)
        scanned = found.get("Statistics", {}).get("DataScannedInBytes", 0)
        self.facts["bytes_scanned"] = self.facts.get("bytes_scanned", 0) + scanned
        args: dict[str, Any] = {"QueryExecutionId": execution}
        header = True
        while True:
            page = self.athena.get_query_results(**args)
            for row in page["ResultSet"]["Rows"]:
                if header:  # a SELECT's first row names its columns
                    header = False
                    continue
                yield [cell.get("VarCharValue") for cell in row["Data"]]
            if not page.get("NextToken"):
                return
            args["NextToken"] = page["NextToken"]

    def recount(self, location: str, *, now: float, retention_days: int) -> Tally:
        """The true counts from the export at ``location`` (its data files' S3 URI)."""
        table = "favorites_" + re.sub(
            r"[^a-z0-9]", "_", location.rstrip("/").split("/")[-2].lower()
        )
        for _ in self.query(
            TABLE_DDL.format(database=self.database, table=table, location=location)
        ):
            pass  # DDL: no rows
        try:
            sql = recount_query(
                f'"{self.database}"."{table}"',
                dialect=Dialect.ATHENA,
                now=now,
                retention_days=retention_days,
            )
            rows = [(r, b or "", int(f or 0)) for r, b, f in self.query(sql)]
        finally:
            for _ in self.query(f"DROP TABLE IF EXISTS `{self.database}`.`{table}`"):
                pass
        return tally_from_rows(rows)
