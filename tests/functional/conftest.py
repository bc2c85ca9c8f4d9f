"""Functional tier: the real Chalice test client on moto's DynamoDB."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import pytest
from moto import mock_aws

from chalicelib import aws, services
from infra.tables import TableNames, ensure_tables
from tests.support import COUNTS_TABLE, DOCUMENTS_TABLE, FAVORITES_TABLE


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
            ensure_tables(client, TableNames(FAVORITES_TABLE, COUNTS_TABLE, DOCUMENTS_TABLE))
            yield client
        services.reset()


@pytest.fixture
def reconfigure(monkeypatch) -> Iterator[Callable[..., None]]:
    """Rebuild settings, schema and views from changed environment variables."""
    from chalicelib import services
    from chalicelib.api import schema, view

    def forget() -> None:
        services.reset()
        schema.schema.cache_clear()
        view.view.cache_clear()

    def apply(**env: str) -> None:
        for name, value in env.items():
            monkeypatch.setenv(name, value)
        forget()

    yield apply
    monkeypatch.undo()
    forget()
