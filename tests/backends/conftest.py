"""Backends tier: suites that run once on each DynamoDB, moto and DynamoDB Local.

The table adapters' answers (rankings, pages, ties, shards) must not depend on
which engine serves them: moto is what the fast tiers use, DynamoDB Local is
AWS's engine. Each test here runs on both; ``-m "not integration"`` keeps the
moto half.
"""

from __future__ import annotations

import pytest

from chalicelib.services import Services

BACKENDS = ["moto", pytest.param("dynamodb-local", marks=pytest.mark.integration)]


@pytest.fixture(params=BACKENDS)
def backend(request: pytest.FixtureRequest) -> str:
    name: str = request.param
    return name


@pytest.fixture
def environment(backend: str, request: pytest.FixtureRequest) -> dict[str, str]:
    """The test stage on the backend: nothing for moto, the endpoint of DynamoDB Local."""
    if backend == "moto":
        return {}
    local: dict[str, str] = request.getfixturevalue("local_environment")
    return local


@pytest.fixture
def services(backend: str, request: pytest.FixtureRequest) -> Services:
    """The test's composition object on the backend, with fresh tables."""
    built: Services = request.getfixturevalue(
        "moto_services" if backend == "moto" else "local_services"
    )
    return built
