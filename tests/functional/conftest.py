"""Functional tier: the real Chalice test client on moto's DynamoDB."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from moto import mock_aws

from chalicelib.services import Services
from chalicelib.settings import Settings
from infra.tables import TableNames, ensure_tables
from tests.support import COUNTS_TABLE, DOCUMENTS_TABLE, FAVORITES_TABLE


@pytest.fixture
def services(settings: Settings) -> Iterator[Services]:
    """The test's composition object on moto's DynamoDB, with fresh tables."""
    with mock_aws():
        built = Services(settings)
        ensure_tables(built.dynamodb(), TableNames(FAVORITES_TABLE, COUNTS_TABLE, DOCUMENTS_TABLE))
        yield built


@pytest.fixture
def dynamodb(services: Services) -> Any:
    return services.dynamodb()
