"""Integration tier: DynamoDB Local (AWS's engine) on a free port, real streams.

The server is the session's (``tests/conftest.py``): it skips only where Java
is missing, and never under CI=true.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from chalicelib import aws
from chalicelib.reconcile.reconciler import Reconciler
from chalicelib.reconcile.store import ReconcileStore
from chalicelib.services import Services
from chalicelib.settings import Settings
from infra.tables import stream_arn
from local.stream_worker import StreamWorker, lambda_record
from tests.support import COUNTS_TABLE, FAVORITES_TABLE


@pytest.fixture
def environment(local_environment: dict[str, str]) -> dict[str, str]:
    """The test stage on DynamoDB Local: every composition object a test builds uses it."""
    return local_environment


@pytest.fixture
def services(local_services: Services) -> Services:
    """The test's composition object, with fresh tables created from infra/tables.json."""
    return local_services


@pytest.fixture
def worker(served: Services, dynamodb: Any) -> StreamWorker:
    """Feeds the real Favorites stream to the real handler, as Lambda would."""
    from app import aggregate_favorites

    return StreamWorker(
        streams=aws.dynamodb_streams(served.settings),
        stream_arn=stream_arn(dynamodb, FAVORITES_TABLE),
        handler=aggregate_favorites,
    )


@pytest.fixture
def stream_records(services: Services, dynamodb: Any) -> Callable[[], list[dict[str, Any]]]:
    """Everything on the Favorites stream so far, as Lambda hands it over, in order.

    Real records (real eventIDs and sequence numbers) for tests that redeliver.
    """
    streams = aws.dynamodb_streams(services.settings)
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
def reconciler(settings: Settings, dynamodb: Any) -> Reconciler:
    store = ReconcileStore(dynamodb, FAVORITES_TABLE, COUNTS_TABLE, segments=3)
    return Reconciler(
        store, shards=settings.ranking_shards, day_retention_days=settings.day_bucket_retention_days
    )
