"""DynamoDB Local for the benchmarks: start it, make tables, load data, count calls.

Starting the server reuses ``local.dynamodb_local``; tables come from
``infra/tables.json`` like everywhere else.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any

from chalicelib.services import Services
from chalicelib.settings import from_environment
from infra.tables import TableNames, ensure_tables
from local.dynamodb_local import DynamoDBLocal, free_port

if TYPE_CHECKING:
    from mypy_boto3_dynamodb import DynamoDBClient

FAVORITES_TABLE = "favorites-bench"
COUNTS_TABLE = "favorite-counts-bench"
BATCH_WRITE_LIMIT = 25  # BatchWriteItem takes at most 25 puts


def bench_environment(endpoint_url: str, shards: int = 1) -> dict[str, str]:
    """The environment the app reads (through chalicelib.settings) in a benchmark."""
    return {
        "STAGE": "bench",
        "AWS_DEFAULT_REGION": "us-east-1",
        "AWS_ACCESS_KEY_ID": "local",
        "AWS_SECRET_ACCESS_KEY": "local",
        "FAVORITES_TABLE": FAVORITES_TABLE,
        "FAVORITE_COUNTS_TABLE": COUNTS_TABLE,
        "DYNAMODB_ENDPOINT_URL": endpoint_url,
        "RANKING_SHARDS": str(shards),
        "GRAPHIQL_ENABLED": "false",
        "TRACING_ENABLED": "false",
        "FAVORITES_STREAM_ARN": (
            f"arn:aws:dynamodb:us-east-1:000000000000:table/{FAVORITES_TABLE}/stream/bench"
        ),
    }


def serve_bench(endpoint_url: str, shards: int = 1) -> Services:
    """The service's objects on ``endpoint_url`` with the bench's tables, which the
    in-process app (app.py) serves from too, as the tests' ``client`` fixture has it."""
    import app  # noqa: PLC0415 (the app under measurement, loaded when measured)

    services = Services(from_environment(bench_environment(endpoint_url, shards)))
    app.services = lambda: services
    return services


@contextmanager
def dynamodb_local() -> Iterator[DynamoDBLocal]:
    """An in-memory DynamoDB Local on a free port, stopped afterwards."""
    server = DynamoDBLocal(free_port()).start()
    try:
        yield server
    finally:
        server.stop()


BENCH_TABLES = TableNames(FAVORITES_TABLE, COUNTS_TABLE)


def fresh_tables(client: DynamoDBClient, names: TableNames = BENCH_TABLES) -> None:
    """Drop and recreate both tables from infra/tables.json."""
    existing = client.list_tables()["TableNames"]
    for name in (names.favorites, names.counts):
        if name in existing:
            client.delete_table(TableName=name)
            client.get_waiter("table_not_exists").wait(
                TableName=name, WaiterConfig={"Delay": 1, "MaxAttempts": 60}
            )
    ensure_tables(client, names)


def batch_put(
    client: DynamoDBClient, table: str, items: Sequence[dict[str, Any]], threads: int = 8
) -> None:
    """Load ``items`` with BatchWriteItem from several threads, retrying leftovers."""

    def write(group: Sequence[dict[str, Any]]) -> None:
        requests: dict[str, Any] = {table: [{"PutRequest": {"Item": item}} for item in group]}
        while requests:
            response = client.batch_write_item(RequestItems=requests)
            requests = response.get("UnprocessedItems") or {}

    groups = [items[i : i + BATCH_WRITE_LIMIT] for i in range(0, len(items), BATCH_WRITE_LIMIT)]
    with ThreadPoolExecutor(max_workers=threads) as pool:
        list(pool.map(write, groups))
