"""Least privilege: each function's policy grants exactly what its code calls.

The DynamoDB calls are found by reading the code (AST), not by a list kept by
hand, so a new call without a grant, or a grant nobody calls, fails here. Each
function has its own policy file (and role), so the API cannot scan a table
because the reconciler may.
"""

from __future__ import annotations

import ast
import subprocess
from datetime import UTC, datetime
from pathlib import Path

import botocore.session
import pytest

from chalicelib.favorites import BY_USER_INDEX
from chalicelib.rankings import BY_COUNT_INDEX
from chalicelib.stream.records import FavoriteEvent
from chalicelib.stream.writer import CountsWriter
from infra import tables
from infra.stages import API_HANDLER, DEPLOYABLE_STAGES, ROOT, stage

# Where each adapter's calls go (chalicelib/services.py builds the adapters):
# (table, index) per method; index None is the table itself. ReconcileStore
# reads both tables, so targets are per call. A new adapter or call must be
# added here, on purpose.
Target = tuple[str, str | None]
ADAPTERS: dict[str, dict[str, set[Target]]] = {
    "FavoritesStore": {
        "put_item": {("favorites", None)},
        "delete_item": {("favorites", None)},
        "batch_get_item": {("favorites", None)},
        "query": {("favorites", BY_USER_INDEX)},
    },
    "RankingStore": {
        "batch_get_item": {("counts", None)},
        "query": {("counts", BY_COUNT_INDEX)},
    },
    "DocumentStore": {"get_item": {("documents", None)}, "put_item": {("documents", None)}},
    "CountsWriter": {"transact_write_items": {("counts", None)}},
    "ReconcileStore": {
        "scan": {("favorites", None), ("counts", None)},
        # The repair's consistent recount of one restaurant's partition.
        "query": {("favorites", None)},
        "get_item": {("counts", None)},
        "update_item": {("counts", None)},
    },
    # A user's index pages, then one delete per favorite (ALL_OLD says which existed).
    "ErasureStore": {
        "query": {("favorites", BY_USER_INDEX)},
        "delete_item": {("favorites", None)},
    },
}
# The adapters each Lambda function reaches (app.py -> chalicelib/services.py;
# test_each_function_reaches_exactly_its_adapters checks it).
FUNCTION_ADAPTERS = {
    API_HANDLER: {"DocumentStore", "FavoritesStore", "RankingStore"},
    "aggregate_favorites": {"CountsWriter"},
    "reconcile_counts": {"ReconcileStore"},
    "erase_favorites": {"ErasureStore"},
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
                    # e.g. self.dynamodb().put_item(...)
                    assert receiver.func.attr not in ("dynamodb", "dynamodb_streams"), path


def test_the_analysis_sees_every_call():
    # Both ways: a call ADAPTERS does not place, or an entry nothing calls, fails.
    assert client_calls() == {
        (cls, method) for cls, methods in ADAPTERS.items() for method in methods
    }
    assert set().union(*FUNCTION_ADAPTERS.values()) == set(ADAPTERS)


def _members_called(tree: ast.AST, receiver: str) -> set[str]:
    """The ``<receiver>.<member>()`` calls in a piece of code; the receiver is a
    name (``self``, ``root``) or an attribute (``self._stores``)."""
    return {
        node.func.attr
        for node in ast.walk(tree)
        if isinstance(node, ast.Call)
        and isinstance(node.func, ast.Attribute)
        and (
            (isinstance(node.func.value, ast.Name) and node.func.value.id == receiver)
            or (isinstance(node.func.value, ast.Attribute) and node.func.value.attr == receiver)
        )
    }


def _root_members_called(handler: ast.FunctionDef) -> set[str]:
    """The composition object's members a handler calls: ``services().<member>()``,
    or through a name bound to ``services()``."""
    bound = {
        target.id
        for node in ast.walk(handler)
        if isinstance(node, ast.Assign)
        and isinstance(node.value, ast.Call)
        and isinstance(node.value.func, ast.Name)
        and node.value.func.id == "services"
        for target in node.targets
        if isinstance(target, ast.Name)
    }
    called = set().union(*(_members_called(handler, name) for name in bound))
    for node in ast.walk(handler):
        if (
            isinstance(node, ast.Call)
            and isinstance(node.func, ast.Attribute)
            and isinstance(node.func.value, ast.Call)
            and isinstance(node.func.value.func, ast.Name)
            and node.func.value.func.id == "services"
        ):
            called.add(node.func.attr)
    return called


def _hands_itself_as_stores(member: ast.FunctionDef) -> bool:
    """Whether a member passes the composition object itself as ``stores=``."""
    return any(
        keyword.arg == "stores"
        and isinstance(keyword.value, ast.Name)
        and keyword.value.id == "self"
        for node in ast.walk(member)
        if isinstance(node, ast.Call)
        for keyword in node.keywords
    )


def _services_members() -> dict[str, ast.FunctionDef]:
    tree = ast.parse((ROOT / "chalicelib" / "services.py").read_text())
    (root,) = [node for node in tree.body if isinstance(node, ast.ClassDef)]
    return {node.name: node for node in root.body if isinstance(node, ast.FunctionDef)}


def _api_store_calls() -> set[str]:
    """What the GraphQL layer calls on the stores it is handed (``self._stores.<member>()``)."""
    called: set[str] = set()
    for path in (ROOT / "chalicelib" / "api").rglob("*.py"):
        tree = ast.parse(path.read_text())
        imported = {node.module for node in ast.walk(tree) if isinstance(node, ast.ImportFrom)} | {
            alias.name
            for node in ast.walk(tree)
            if isinstance(node, ast.Import)
            for alias in node.names
        }
        # The API never imports the root (also an import-linter contract): it is handed it.
        assert not {"chalicelib.services", "app"} & imported, path
        called |= _members_called(tree, "_stores")
    return called


def reached_adapters(members: set[str]) -> set[str]:
    """The adapters these members of the composition object build, following the
    members they call (``self.<member>()``) and what the GraphQL view calls on
    them when a member hands the object to it as its stores."""
    tree = _services_members()
    api_calls = _api_store_calls()
    seen: set[str] = set()
    adapters: set[str] = set()
    todo = list(members)
    while todo:
        name = todo.pop()
        if name in seen:
            continue
        seen.add(name)
        member = tree[name]  # a KeyError: a handler calls what the object does not have
        adapters |= {
            node.func.id
            for node in ast.walk(member)
            if isinstance(node, ast.Call) and isinstance(node.func, ast.Name)
        } & set(ADAPTERS)
        todo += _members_called(member, "self")
        if _hands_itself_as_stores(member):
            todo += api_calls
    return adapters


def test_each_function_reaches_exactly_its_adapters():
    app_tree = ast.parse((ROOT / "app.py").read_text())
    handlers = {node.name: node for node in app_tree.body if isinstance(node, ast.FunctionDef)}
    assert set(FUNCTION_ADAPTERS) == set(stage("dev").functions)
    routes = {API_HANDLER: ("graphql", "public_graphql")}
    for function, adapters in FUNCTION_ADAPTERS.items():
        members = set().union(
            *(_root_members_called(handlers[name]) for name in routes.get(function, (function,)))
        )
        # A client reached straight from a handler would escape the analysis.
        assert "dynamodb" not in members, function
        assert reached_adapters(members) == adapters, function


def test_the_reach_analysis_follows_members_and_the_views_stores():
    # The routes reach the stores only through the view; the stream handler its writer.
    assert reached_adapters({"view"}) == {"DocumentStore", "FavoritesStore", "RankingStore"}
    assert reached_adapters({"counts_writer", "metric_space"}) == {"CountsWriter"}
    assert reached_adapters({"reconciler"}) == {"ReconcileStore"}
    assert reached_adapters({"eraser", "metric_space"}) == {"ErasureStore"}
    assert _api_store_calls() == {"documents", "favorites", "rankings"}


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


def expected_dynamodb_grants(stage_name: str, function: str) -> set[Grant]:
    config = stage(stage_name)
    table_names = {
        "favorites": config.favorites_table,
        "counts": config.counts_table,
        "documents": config.documents_table,
    }
    operations = _operation_names()
    grants: set[Grant] = set()
    for cls, method in client_calls():
        assert method in ADAPTERS.get(cls, {}), f"{cls}.{method} calls DynamoDB; add it to ADAPTERS"
        if cls not in FUNCTION_ADAPTERS[function]:
            continue
        for table_key, index in ADAPTERS[cls][method]:
            table_arn = f"arn:aws:dynamodb:*:*:table/{table_names[table_key]}"
            if method == "transact_write_items":
                grants |= {(f"dynamodb:{a}", table_arn) for a in _transaction_actions()}
            elif index is not None:
                assert method == "query"
                grants.add(("dynamodb:Query", f"{table_arn}/index/{index}"))
            else:
                grants.add((f"dynamodb:{operations[method]}", table_arn))
    if function == "aggregate_favorites":
        # Its event source mapping reads the favorites stream with the function's role.
        stream = f"arn:aws:dynamodb:*:*:table/{config.favorites_table}/stream/*"
        grants |= {(action, stream) for action in STREAM_READS}
    return grants


def granted(stage_name: str, function: str) -> set[Grant]:
    pairs: set[Grant] = set()
    for statement in stage(stage_name).policy(function)["Statement"]:
        assert statement["Effect"] == "Allow"
        assert "NotAction" not in statement
        assert "NotResource" not in statement
        actions = statement["Action"]
        resources = statement["Resource"]
        for action in actions if isinstance(actions, list) else [actions]:
            for resource in resources if isinstance(resources, list) else [resources]:
                pairs.add((action, resource))
    return pairs


@pytest.mark.parametrize("function", FUNCTION_ADAPTERS)
@pytest.mark.parametrize("stage_name", DEPLOYABLE_STAGES)
def test_dynamodb_grants_are_exactly_the_functions_calls(stage_name, function):
    dynamodb = {
        grant for grant in granted(stage_name, function) if grant[0].startswith("dynamodb:")
    }
    assert dynamodb == expected_dynamodb_grants(stage_name, function)


def test_only_the_reconciler_may_scan_and_only_the_stream_handler_reads_the_stream():
    # The point of one policy per function, spelled out for the riskiest grants.
    for stage_name in DEPLOYABLE_STAGES:
        for function in FUNCTION_ADAPTERS:
            actions = {action for action, _ in granted(stage_name, function)}
            assert ("dynamodb:Scan" in actions) is (function == "reconcile_counts")
            assert ("dynamodb:GetRecords" in actions) is (function == "aggregate_favorites")
            assert "dynamodb:DescribeTable" not in actions


@pytest.mark.parametrize("function", FUNCTION_ADAPTERS)
@pytest.mark.parametrize("stage_name", DEPLOYABLE_STAGES)
def test_everything_else_granted_is_tracing_its_log_group_and_the_failure_queue(
    stage_name, function
):
    config = stage(stage_name)
    others = {
        grant for grant in granted(stage_name, function) if not grant[0].startswith("dynamodb:")
    }
    log_group = f"arn:aws:logs:*:*:log-group:/aws/lambda/{config.function_name(function)}:*"
    expected = {
        ("xray:PutTraceSegments", "*"),
        ("xray:PutTelemetryRecords", "*"),
        *{
            (action, log_group)
            for action in ("logs:CreateLogGroup", "logs:CreateLogStream", "logs:PutLogEvents")
        },
    }
    if function == "aggregate_favorites":
        # Lambda sends the batches it gives up on with the function's role.
        expected.add(("sqs:SendMessage", f"arn:aws:sqs:*:*:{config.failure_queue_name}"))
    if function == "erase_favorites":
        # Lambda's poller reads and deletes the erasure messages with the function's role.
        queue = f"arn:aws:sqs:*:*:{config.erasure_queue_name}"
        expected |= {
            (action, queue)
            for action in ("sqs:ReceiveMessage", "sqs:DeleteMessage", "sqs:GetQueueAttributes")
        }
    assert others == expected


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
