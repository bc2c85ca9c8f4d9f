"""Integration tier: DynamoDB Local (AWS's engine) on a free port, real streams.

Skips only where Java is missing, and never under CI=true: there a missing
Java or DynamoDB Local fails the run loudly.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from chalicelib import aws, services
from chalicelib.reconcile.reconciler import Reconciler
from chalicelib.reconcile.store import ReconcileStore
from chalicelib.settings import get_settings
from infra.tables import TableNames, ensure_tables, stream_arn
from local.dynamodb_local import DynamoDBLocal, free_port, java
from local.stream_worker import StreamWorker, lambda_record
from tests.support import COUNTS_TABLE, DOCUMENTS_TABLE, FAVORITES_TABLE, skip_unless_ci


@pytest.fixture(scope="session")
def dynamodb_local() -> Iterator[DynamoDBLocal]:
    if java() is None:
        skip_unless_ci("Java is not installed: DynamoDB Local cannot run", "Java is required")
    server = DynamoDBLocal(free_port()).start()
    previous = os.environ.get("DYNAMODB_ENDPOINT_URL")
    os.environ["DYNAMODB_ENDPOINT_URL"] = server.endpoint_url
    services.reset()
    yield server
    server.stop()
    if previous is None:
        os.environ.pop("DYNAMODB_ENDPOINT_URL", None)
    else:
        os.environ["DYNAMODB_ENDPOINT_URL"] = previous
    services.reset()


@pytest.fixture
def dynamodb(dynamodb_local: DynamoDBLocal) -> Iterator[Any]:
    """Fresh tables for each test, created from infra/tables.json."""
    services.reset()
    client = aws.dynamodb()
    for name in (FAVORITES_TABLE, COUNTS_TABLE, DOCUMENTS_TABLE):
        if name in client.list_tables()["TableNames"]:
            client.delete_table(TableName=name)
            client.get_waiter("table_not_exists").wait(TableName=name)
    ensure_tables(client, TableNames(FAVORITES_TABLE, COUNTS_TABLE, DOCUMENTS_TABLE))
    yield client
    services.reset()


@pytest.fixture
def worker(dynamodb: Any) -> StreamWorker:
    """Feeds the real Favorites stream to the real handler, as Lambda would."""
    from app import aggregate_favorites

    return StreamWorker(
        streams=aws.dynamodb_streams(),
        stream_arn=stream_arn(dynamodb, FAVORITES_TABLE),
        handler=aggregate_favorites,
    )


@pytest.fixture
def stream_records(dynamodb: Any) -> Callable[[], list[dict[str, Any]]]:
    """Everything on the Favorites stream so far, as Lambda hands it over, in order.

    Real records (real eventIDs and sequence numbers) for tests that redeliver.
    """
    streams = aws.dynamodb_streams()
    arn = stream_arn(dynamodb, FAVORITES_TABLE)

    def read() -> list[dict[str, Any]]:
        records: list[Any] = []
        for shard in streams.describe_stream(StreamArn=arn)["StreamDescription"]["Shards"]:
            iterator = streams.get_shard_iterator(
                StreamArn=arn, ShardId=shard["ShardId"], ShardIteratorType="TRIM_HORIZON"
            ).get("ShardIterator")
            while iterator:
                page = streams.get_records(ShardIterator=iterator, Limit=1000)
                if not page["Records"]:
                    break
                records.extend(page["Records"])
                iterator = page.get("NextShardIterator")
        records.sort(key=lambda record: int(record["dynamodb"]["SequenceNumber"]))
        return [lambda_record(record, arn, "us-east-1") for record in records]

    return read


@pytest.fixture
def reconciler(dynamodb: Any) -> Reconciler:
    settings = get_settings()
    store = ReconcileStore(dynamodb, FAVORITES_TABLE, COUNTS_TABLE, segments=3)
    return Reconciler(
        store, shards=settings.ranking_shards, day_retention_days=settings.day_bucket_retention_days
    )
