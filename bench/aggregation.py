"""Section 2: what the stream aggregation costs per event, against a naive handler."""

from __future__ import annotations

from collections import defaultdict
from typing import TYPE_CHECKING, Any

from bench import baselines
from bench.dynamo import COUNTS_TABLE, FAVORITES_TABLE, fresh_tables
from bench.section import STREAM_ARN, Section, x
from bench.stats import figure, ratio, timed
from bench.workloads import ZIPF_EXPONENT, stream_batches
from devtools.calls import counting

if TYPE_CHECKING:
    from mypy_boto3_dynamodb import DynamoDBClient


def _all_counts(client: DynamoDBClient, table: str) -> dict[str, int]:
    counts: dict[str, int] = {}
    scan: dict[str, Any] = {"TableName": table}
    while True:
        page = client.scan(**scan)
        for item in page.get("Items", []):
            if item["bucket"]["S"] == "ALL" and "favorite_count" in item:
                counts[item["restaurant_id"]["S"]] = int(item["favorite_count"]["N"])
        if "LastEvaluatedKey" not in page:
            return counts
        scan["ExclusiveStartKey"] = page["LastEvaluatedKey"]


def aggregation(client: DynamoDBClient, runs: int, batches: int) -> Section:
    import app  # noqa: PLC0415 (serving the bench's services: bench/dynamo.py)
    from chalicelib.stream.handler import handle_stream_batch  # noqa: PLC0415
    from infra.tables import TableNames  # noqa: PLC0415

    section = Section("2. Aggregation cost")
    naive_table = "favorite-counts-naive"
    writer = app.services().counts_writer()
    section.lines.append(
        f"{batches} Lambda batches of 100 INSERT records per run, {runs} runs per workload, "
        "10,000 restaurants; both handlers get the same batches in the same process, the "
        "naive one writing to a twin table. Write units: 2 per transactional action per KB; "
        "every item written here is under 1 KB, so 2 per action."
    )
    section.lines.append("")
    section.header(
        "workload",
        "handler",
        "WCU / event",
        "round trips / 100 records",
        "records / s",
        "ours vs naive (records/s)",
    )
    for name, zipf in (("uniform", None), (f"Zipf({ZIPF_EXPONENT})", ZIPF_EXPONENT)):
        fresh_tables(client)
        fresh_tables(client, TableNames("favorites-naive", naive_table))
        rates: dict[str, list[float]] = defaultdict(list)
        units: dict[str, list[float]] = defaultdict(list)
        trips: dict[str, list[float]] = defaultdict(list)
        for run in range(runs):
            work = stream_batches(
                batches=batches,
                size=100,
                restaurants=10_000,
                zipf=zipf,
                stream_arn=STREAM_ARN,
                seed=run + 100,
            )
            records = batches * 100

            def ours(work: list[list[dict[str, Any]]] = work) -> None:
                for batch in work:
                    response = handle_stream_batch(batch, writer, FAVORITES_TABLE)
                    assert response == {"batchItemFailures": []}, response

            def naive(work: list[list[dict[str, Any]]] = work) -> None:
                for batch in work:
                    baselines.naive_handle(batch, client, naive_table)

            for label, call in (("ours", ours), ("naive", naive)):
                with counting(client, read_units=True) as counter:
                    seconds = timed(call)
                rates[label].append(records / seconds)
                units[label].append(2 * counter.actions / records)
                trips[label].append(counter.round_trips / batches)
        # Same counts either way: the comparison is of two correct handlers.
        assert _all_counts(client, COUNTS_TABLE) == _all_counts(client, naive_table)
        rate = {label: figure(values, "rec/s") for label, values in rates.items()}
        for label in ("ours", "naive"):
            section.row(
                name,
                label,
                figure(units[label], "WCU").text(2),
                figure(trips[label], "").text(1),
                rate[label].text(0),
                x(ratio(rate["ours"], rate["naive"])) if label == "ours" else "",
            )
        key = "zipf" if zipf else "uniform"
        section.numbers[f"wcu_per_event_{key}"] = figure(units["ours"], "").median
        section.numbers[f"naive_wcu_per_event_{key}"] = figure(units["naive"], "").median
        section.numbers[f"seconds_per_round_trip_{key}"] = 1 / (
            rate["ours"].median / 100 * figure(trips["ours"], "").median
        )
    section.lines.append("")
    section.lines.append(
        "The naive handler writes no exactly-once markers: a redelivered batch counts twice. "
        "Ours pays one marker (2 WCU) per event for that guarantee and wins back the "
        "difference only where coalescing merges updates (hot restaurants)."
    )
    return section
