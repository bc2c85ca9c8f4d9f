"""Functional tier: the real Chalice test client on moto's DynamoDB."""

from __future__ import annotations

import pytest

from chalicelib.services import Services


@pytest.fixture
def services(moto_services: Services) -> Services:
    """The test's composition object on moto's DynamoDB, with fresh tables."""
    return moto_services
