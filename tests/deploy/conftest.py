"""Deploy tier: the packaged templates and zips, built once per test session."""

from __future__ import annotations

from pathlib import Path

import pytest

from infra.package import Package, package
from infra.stages import DEPLOYABLE_STAGES


@pytest.fixture(scope="session")
def packages(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Package]:
    # The same function `make package` runs: chalice package, the timeout
    # check and cfn-lint. A failure of any of them fails the session here.
    dist: Path = tmp_path_factory.mktemp("dist")
    return {stage: package(stage, dist) for stage in DEPLOYABLE_STAGES}


@pytest.fixture(params=DEPLOYABLE_STAGES)
def packaged(request: pytest.FixtureRequest, packages: dict[str, Package]) -> Package:
    return packages[request.param]
