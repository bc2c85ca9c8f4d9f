"""Stage configuration and module boundaries, read from the files themselves."""

from __future__ import annotations

import ast
import json
from pathlib import Path

import pytest

from chalicelib.settings import from_env
from infra.stages import API_HANDLER, CHALICE_DIR, DEPLOYABLE_STAGES, ROOT, config, stage

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
    assert importers == {"chalicelib/tracing/xray_sdk.py"}


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
    # No stage's config names a local endpoint: the local stack sets the local
    # stage's at run time (local/stack.py, on the port it chose), and deployed
    # stages never get one.
    for name in ("local", *DEPLOYABLE_STAGES):
        assert "DYNAMODB_ENDPOINT_URL" not in stage(name).environment


def test_config_sizes_every_function_the_app_defines():
    from app import app

    # Chalice's names: the API's handler plus one per event source (stream, schedule).
    defined = {API_HANDLER} | {source.name for source in app.event_sources}
    assert set(config()["lambda_functions"]) == defined
    assert stage("dev").functions == stage("prod").functions
    assert set(stage("dev").functions) == defined


@pytest.mark.parametrize("name", DEPLOYABLE_STAGES)
def test_each_deployable_function_has_its_own_policy_and_sizes(name):
    data = config()
    # No stage-wide file: a function without its own policy would fall back
    # to policy-<stage>.json, which does not exist, and packaging fails.
    assert "iam_policy_file" not in data["stages"][name]
    assert not (CHALICE_DIR / f"policy-{name}.json").exists()
    config_stage = stage(name)
    other = next(s for s in DEPLOYABLE_STAGES if s != name)
    for function in config_stage.functions:
        path = config_stage.policy_file(function)
        assert path == CHALICE_DIR / f"policy-{name}-{function}.json"
        # Every ARN in the function's policy names this stage's resources only.
        text = json.dumps(config_stage.policy(function))
        assert f"-{other}" not in text
        assert f"favorites-{name}" in text
        assert 128 <= config_stage.memory_size(function) <= 10240
        assert 1 <= config_stage.timeout(function) <= 900
    assert sorted(p.name for p in CHALICE_DIR.glob("policy-*.json")) == sorted(
        f"policy-{stage_name}-{function}.json"
        for stage_name in DEPLOYABLE_STAGES
        for function in config_stage.functions
    )
