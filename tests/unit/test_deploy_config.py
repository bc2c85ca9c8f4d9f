"""Stage configuration and module boundaries, read from the files themselves."""

from __future__ import annotations

import ast
import json
from pathlib import Path

import pytest

from chalicelib.settings import from_env
from infra.stages import CHALICE_DIR, DEPLOYABLE_STAGES, ROOT, config, stage

SOURCE_DIRS = ("chalicelib", "infra", "local", "tests", "bench")


def _python_files() -> list[Path]:
    files = [ROOT / "app.py"]
    for directory in SOURCE_DIRS:
        files += [p for p in (ROOT / directory).rglob("*.py") if "node_modules" not in p.parts]
    return files


def test_only_tracing_imports_the_xray_sdk():
    importers = set()
    for path in _python_files():
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            names = []
            if isinstance(node, ast.Import):
                names = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom) and node.module:
                names = [node.module]
            if any(name.split(".")[0] == "aws_xray_sdk" for name in names):
                importers.add(path.relative_to(ROOT).as_posix())
    assert importers == {"chalicelib/tracing.py"}


def test_stages_and_what_they_turn_on():
    data = config()
    assert set(data["stages"]) == {"local", "dev", "prod"}
    assert data["xray"] is True
    assert data["autogen_policy"] is False
    for name in ("local", "dev", "prod"):
        settings = from_env(stage(name).environment)
        assert settings.stage == name
        assert settings.favorites_table == f"favorites-{name}"
        assert settings.counts_table == f"favorite-counts-{name}"
        assert settings.ranking_shards >= 1
        assert settings.day_bucket_retention_days >= 31  # a month's days stay queryable
        assert settings.graphiql is (name != "prod")
    assert stage("prod").environment["GRAPHIQL_ENABLED"] == "false"
    # Only the local stage talks to a local endpoint.
    assert from_env(stage("local").environment).dynamodb_endpoint_url
    for name in DEPLOYABLE_STAGES:
        assert from_env(stage(name).environment).dynamodb_endpoint_url is None


@pytest.mark.parametrize("name", DEPLOYABLE_STAGES)
def test_each_deployable_stage_has_its_policy_and_function_sizes(name):
    data = config()
    assert data["stages"][name]["iam_policy_file"] == f"policy-{name}.json"
    policy = json.loads((CHALICE_DIR / f"policy-{name}.json").read_text())
    # Every ARN in the stage's policy names this stage's resources only.
    other = next(s for s in DEPLOYABLE_STAGES if s != name)
    text = json.dumps(policy)
    assert f"-{other}" not in text
    assert f"favorites-{name}" in text
    functions = data["lambda_functions"]
    assert set(functions) == {"api_handler", "aggregate_favorites"}
    for function in functions.values():
        assert function["lambda_memory_size"] >= 128
        assert function["lambda_timeout"] >= 1
