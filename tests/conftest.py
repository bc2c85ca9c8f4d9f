"""Test environment: fixed table names, fake credentials, no real AWS.

The two DynamoDBs are fixtures here, so a tier picks one (``functional``: moto;
``integration``: DynamoDB Local) or runs its suites on both (``backends``).
"""

from __future__ import annotations

import io
import logging
import os
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from chalice.test import Client
from moto import mock_aws

from chalicelib.services import Services
from chalicelib.settings import Settings, from_environment
from chalicelib.tracing import Tracer
from infra.tables import TableNames, ensure_tables
from local.dynamodb_local import DynamoDBLocal, free_port, java
from tests.support import COUNTS_TABLE, DOCUMENTS_TABLE, FAVORITES_TABLE, skip_unless_ci

# The test stage's variables (the app reads its stage's at import, boto3 the
# credentials), before anything imports the app.
os.environ.update(
    {
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_SECURITY_TOKEN": "testing",
        "AWS_SESSION_TOKEN": "testing",
        "AWS_DEFAULT_REGION": "us-east-1",
        "STAGE": "test",
        "FAVORITES_TABLE": "favorites-test",
        "FAVORITE_COUNTS_TABLE": "favorite-counts-test",
        "FAVORITES_STREAM_ARN": (
            "arn:aws:dynamodb:us-east-1:123456789012:table/favorites-test"
            "/stream/2026-11-01T00:00:00.000"
        ),
        # Two browser origins, as a web app and a developer's server would be.
        "CORS_ALLOW_ORIGINS": "https://app.example.com,http://localhost:5173",
    }
)
os.environ.pop("DYNAMODB_ENDPOINT_URL", None)
os.environ.pop("AWS_PROFILE", None)

ROOT = Path(__file__).resolve().parents[1]
TABLES = TableNames(FAVORITES_TABLE, COUNTS_TABLE, DOCUMENTS_TABLE)


@pytest.fixture(scope="session")
def dynamodb_local() -> Iterator[DynamoDBLocal]:
    """One DynamoDB Local for the session, on a free port. Skips only where Java is
    missing, and never under CI=true: there a missing Java or DynamoDB Local fails
    the run loudly."""
    if java() is None:
        skip_unless_ci("Java is not installed: DynamoDB Local cannot run", "Java is required")
    server = DynamoDBLocal(free_port()).start()
    yield server
    server.stop()


@pytest.fixture
def local_environment(dynamodb_local: DynamoDBLocal) -> dict[str, str]:
    """What puts the test stage on DynamoDB Local: every composition object built
    with it uses the session's server."""
    return {"DYNAMODB_ENDPOINT_URL": dynamodb_local.endpoint_url}


@pytest.fixture
def moto_services(settings: Settings) -> Iterator[Services]:
    """The test's composition object on moto's DynamoDB, with fresh tables."""
    with mock_aws():
        built = Services(settings)
        ensure_tables(built.dynamodb(), TABLES)
        yield built


@pytest.fixture
def local_services(settings: Settings) -> Services:
    """The test's composition object on DynamoDB Local (``settings`` must point there),
    with fresh tables created from infra/tables.json."""
    built = Services(settings)
    client = built.dynamodb()
    for name in TABLES.by_resource().values():
        if name in client.list_tables()["TableNames"]:
            client.delete_table(TableName=name)
            client.get_waiter("table_not_exists").wait(TableName=name)
    ensure_tables(client, TABLES)
    return built


@pytest.fixture
def dynamodb(services: Services) -> Any:
    """The tier's DynamoDB client, the one its ``services`` uses."""
    return services.dynamodb()


@pytest.fixture
def environment() -> dict[str, str]:
    """What a tier adds to the test stage's variables (DynamoDB Local's endpoint)."""
    return {}


@pytest.fixture
def settings(environment: dict[str, str]) -> Settings:
    """The test stage's settings, on the tier's DynamoDB."""
    return from_environment(environment)


@pytest.fixture
def serve(
    served: Services, monkeypatch: pytest.MonkeyPatch, environment: dict[str, str]
) -> Callable[..., Services]:
    """Serve the app from a composition object of the test's own: the test stage's
    settings with ``variables`` on top (``serve(STAGE="prod")``), and any of
    ``Services``' overrides (``clock=``, ``dynamodb=``, ``tracer=``). Returns it.

    After ``served``, whatever the order fixtures are named in: the last call wins."""
    import app

    def build(
        *,
        clock: Callable[[], float] = time.time,
        dynamodb: Any = None,
        tracer: Tracer | None = None,
        **variables: str,
    ) -> Services:
        settings = from_environment({**environment, **variables})
        built = Services(settings, clock=clock, dynamodb=dynamodb, tracer=tracer)
        monkeypatch.setattr(app, "services", lambda: built)
        return built

    return build


@pytest.fixture
def served(services: Services, monkeypatch: pytest.MonkeyPatch) -> Services:
    """The app's handlers serving from the tier's ``services`` (its tables are made)."""
    import app

    monkeypatch.setattr(app, "services", lambda: services)
    return services


@pytest.fixture
def client(served: Services) -> Iterator[Client]:
    """Chalice's test client on the app serving from the tier's ``services``."""
    import app

    # A stage the config does not define: no stage variables leak into tests.
    with Client(app.app, stage_name="test", project_dir=str(ROOT)) as test_client:
        yield test_client


@pytest.fixture
def lambda_logging(monkeypatch: pytest.MonkeyPatch) -> Iterator[io.StringIO]:
    """``chalicelib.logs.configure`` as Lambda runs it (stdout is this buffer)."""
    from chalicelib import logs

    logger = logging.getLogger("chalicelib")
    saved = (logger.level, logger.propagate, list(logger.handlers))
    stdout = io.StringIO()
    monkeypatch.setattr("sys.stdout", stdout)
    lambda_env = {"AWS_LAMBDA_FUNCTION_NAME": "favorites-prod-aggregate"}
    logs.configure("prod", "DEBUG", lambda_env)
    logs.configure("prod", "DEBUG", lambda_env)  # idempotent: still one handler
    yield stdout
    logs.bind()
    logger.setLevel(saved[0])
    logger.propagate = saved[1]
    logger.handlers[:] = saved[2]
