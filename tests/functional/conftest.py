"""Functional tier: the real Chalice test client on moto's DynamoDB."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from chalice.test import Client
from moto import mock_aws

from chalicelib import aws, services
from infra.tables import TableNames, ensure_tables
from tests.support import COUNTS_TABLE, FAVORITES_TABLE

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def dynamodb() -> Iterator[Any]:
    # A patcher of its own, not the `monkeypatch` fixture: requesting that
    # would set it up first and tear it down last, so a test's patches (of
    # services, say) would still be in place when services.reset() runs below.
    with pytest.MonkeyPatch.context() as patch:
        # Integration tests in the same session may have set a DynamoDB Local endpoint.
        patch.delenv("DYNAMODB_ENDPOINT_URL", raising=False)
        with mock_aws():
            services.reset()
            client = aws.dynamodb()
            ensure_tables(client, TableNames(FAVORITES_TABLE, COUNTS_TABLE))
            yield client
        services.reset()


@pytest.fixture
def client(dynamodb: Any) -> Iterator[Client]:
    from app import app

    # A stage the config does not define: no stage variables leak into tests.
    with Client(app, stage_name="test", project_dir=str(ROOT)) as test_client:
        yield test_client
