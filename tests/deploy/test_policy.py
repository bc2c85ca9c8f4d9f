"""Least privilege: the stage policies grant exactly what chalicelib calls.

The DynamoDB calls are found by reading the code (AST), not by a list kept by
hand, so a new call without a grant, or a grant nobody calls, fails here.
"""

from __future__ import annotations

import ast
import subprocess
from datetime import UTC, datetime
from pathlib import Path

import botocore.session
import pytest

from chalicelib.aggregation import CountsWriter, FavoriteEvent
from chalicelib.favorites import BY_USER_INDEX
from chalicelib.rankings import BY_COUNT_INDEX
from infra import tables
from infra.stages import DEPLOYABLE_STAGES, ROOT, stage

# Which table (and which index, for queries) each adapter is built with
# (chalicelib/services.py). A new adapter must be added here, on purpose.
ADAPTERS = {
    "FavoritesStore": ("favorites", BY_USER_INDEX),
    "RankingStore": ("counts", BY_COUNT_INDEX),
    "CountsWriter": ("counts", None),
}
# TransactWriteItems is authorised per action inside it.
TRANSACT_ACTIONS = {
    "Put": "PutItem",
    "Update": "UpdateItem",
    "Delete": "DeleteItem",
    "ConditionCheck": "ConditionCheckItem",
}
STREAM_READS = {
    "dynamodb:DescribeStream",
    "dynamodb:GetRecords",
    "dynamodb:GetShardIterator",
    "dynamodb:ListStreams",
}

Grant = tuple[str, str]  # (action, resource)


def client_calls() -> set[tuple[str, str]]:
    """(class, method) for every ``self._client.<method>(...)`` in chalicelib."""
    found: set[tuple[str, str]] = set()
    for path in sorted((ROOT / "chalicelib").rglob("*.py")):
        tree = ast.parse(path.read_text(), str(path))
        for cls in (node for node in ast.walk(tree) if isinstance(node, ast.ClassDef)):
            for node in ast.walk(cls):
                if (
                    isinstance(node, ast.Call)
                    and isinstance(node.func, ast.Attribute)
                    and isinstance(node.func.value, ast.Attribute)
                    and node.func.value.attr == "_client"
                ):
                    found.add((cls.name, node.func.attr))
    return found


def test_no_client_is_used_but_through_an_adapter():
    # boto3 clients are made in aws.py only and reach code through `self._client`;
    # anything else would escape the analysis below.
    for path in sorted((ROOT / "chalicelib").rglob("*.py")):
        source = path.read_text()
        if path.name != "aws.py":
            assert "boto3.client(" not in source, path
            assert "boto3.resource(" not in source, path
            assert "dynamodb_streams()" not in source, path
        tree = ast.parse(source)
        for node in ast.walk(tree):
            if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute):
                receiver = node.func.value
                if isinstance(receiver, ast.Call) and isinstance(receiver.func, ast.Attribute):
                    # e.g. aws.dynamodb().put_item(...)
                    assert receiver.func.attr not in ("dynamodb", "dynamodb_streams"), path


def test_the_analysis_sees_every_call():
    assert client_calls() == {
        ("FavoritesStore", "put_item"),
        ("FavoritesStore", "delete_item"),
        ("FavoritesStore", "get_item"),
        ("FavoritesStore", "query"),
        ("RankingStore", "query"),
        ("RankingStore", "get_item"),
        ("CountsWriter", "transact_write_items"),
    }


def _operation_names() -> dict[str, str]:
    model = botocore.session.get_session().get_service_model("dynamodb")
    return {botocore.xform_name(name): name for name in model.operation_names}


def _transaction_actions() -> set[str]:
    writer = CountsWriter(
        None,  # type: ignore[arg-type]  # actions() builds requests, calls nothing
        "counts",
        shards=1,
        day_retention_days=90,
        marker_ttl_seconds=3600,
        budget_seconds=1,
    )
    event = FavoriteEvent("e", "1", "r1", "u1", datetime(2026, 11, 23, tzinfo=UTC), 1)
    return {TRANSACT_ACTIONS[kind] for action in writer.actions([event]) for kind in action}


def expected_dynamodb_grants(stage_name: str) -> set[Grant]:
    config = stage(stage_name)
    table_names = {"favorites": config.favorites_table, "counts": config.counts_table}
    operations = _operation_names()
    grants: set[Grant] = set()
    for cls, method in client_calls():
        assert cls in ADAPTERS, f"{cls} calls DynamoDB; add it to ADAPTERS"
        table_key, index = ADAPTERS[cls]
        table_arn = f"arn:aws:dynamodb:*:*:table/{table_names[table_key]}"
        if method == "transact_write_items":
            grants |= {(f"dynamodb:{a}", table_arn) for a in _transaction_actions()}
        elif method == "query":
            # Every query of ours reads an index, never the base table.
            assert index is not None
            grants.add(("dynamodb:Query", f"{table_arn}/index/{index}"))
        else:
            grants.add((f"dynamodb:{operations[method]}", table_arn))
    # The stream handler's event source mapping reads the favorites stream.
    stream = f"arn:aws:dynamodb:*:*:table/{config.favorites_table}/stream/*"
    grants |= {(action, stream) for action in STREAM_READS}
    return grants


def granted(stage_name: str) -> set[Grant]:
    pairs: set[Grant] = set()
    for statement in stage(stage_name).policy()["Statement"]:
        assert statement["Effect"] == "Allow"
        assert "NotAction" not in statement
        assert "NotResource" not in statement
        actions = statement["Action"]
        resources = statement["Resource"]
        for action in actions if isinstance(actions, list) else [actions]:
            for resource in resources if isinstance(resources, list) else [resources]:
                pairs.add((action, resource))
    return pairs


@pytest.mark.parametrize("stage_name", DEPLOYABLE_STAGES)
def test_dynamodb_grants_are_exactly_the_calls(stage_name):
    dynamodb = {grant for grant in granted(stage_name) if grant[0].startswith("dynamodb:")}
    assert dynamodb == expected_dynamodb_grants(stage_name)


@pytest.mark.parametrize("stage_name", DEPLOYABLE_STAGES)
def test_everything_else_granted_is_tracing_logs_and_the_failure_queue(stage_name):
    config = stage(stage_name)
    others = {grant for grant in granted(stage_name) if not grant[0].startswith("dynamodb:")}
    log_groups = [
        f"arn:aws:logs:*:*:log-group:/aws/lambda/{name}:*"
        for name in (config.api_function_name, config.stream_function_name)
    ]
    assert others == {
        ("xray:PutTraceSegments", "*"),
        ("xray:PutTelemetryRecords", "*"),
        *{
            (action, group)
            for action in ("logs:CreateLogGroup", "logs:CreateLogStream", "logs:PutLogEvents")
            for group in log_groups
        },
        ("sqs:SendMessage", f"arn:aws:sqs:*:*:{config.failure_queue_name}"),
    }


def test_indexes_in_the_policy_exist_in_the_table_definitions():
    indexes = {
        index["IndexName"]
        for resource in tables.resources().values()
        for index in resource["Properties"].get("GlobalSecondaryIndexes", [])
    }
    assert {BY_USER_INDEX, BY_COUNT_INDEX} <= indexes


def test_make_deploy_says_what_is_missing(tmp_path: Path):
    base = {"PATH": "/usr/bin:/bin", "HOME": str(tmp_path)}

    def deploy(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            ["make", "--no-print-directory", "deploy", "STAGE=dev", *args],
            cwd=ROOT,
            env=env,
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )

    result = deploy(base)
    assert result.returncode != 0
    assert "DEPLOY_BUCKET" in result.stderr
    # No aws on PATH.
    result = deploy(base, "DEPLOY_BUCKET=bucket")
    assert result.returncode != 0
    assert "AWS CLI" in result.stderr
    # An aws that finds no credentials (a stand-in: nothing here reaches AWS).
    fake_bin = tmp_path / "bin"
    fake_bin.mkdir()
    fake_aws = fake_bin / "aws"
    fake_aws.write_text("#!/bin/sh\necho 'Unable to locate credentials' >&2\nexit 253\n")
    fake_aws.chmod(0o755)
    result = deploy({**base, "PATH": f"{fake_bin}:/usr/bin:/bin"}, "DEPLOY_BUCKET=bucket")
    assert result.returncode != 0
    assert "credentials" in result.stderr
    assert "dist/dev" not in result.stdout  # stopped before packaging anything
