"""The packaged template is complete, least-privileged and traced; the zip is lean."""

from __future__ import annotations

import copy
import importlib.util
import json
import re
import zipfile
from pathlib import Path
from typing import Any

import pytest

from chalicelib.settings import DEV_CURSOR_SECRET, from_env
from infra import logs, tables
from infra import template as merge
from infra.package import (
    Package,
    PackageError,
    check_stream_timeout,
    lint,
    sam_transform,
    zip_report,
)
from infra.stages import ROOT, stage

FUNCTIONS = tuple(logical_id for logical_id, _ in merge.FUNCTIONS.values())


def _resources(packaged: Package) -> dict[str, Any]:
    return dict(packaged.template()["Resources"])


def _walk(node: Any) -> list[Any]:
    """Every value in a JSON document, depth first."""
    found = [node]
    if isinstance(node, dict):
        for value in node.values():
            found += _walk(value)
    elif isinstance(node, list):
        for value in node:
            found += _walk(value)
    return found


def test_tables_are_exactly_the_infra_definitions(packaged: Package) -> None:
    resources = _resources(packaged)
    config = stage(packaged.stage)
    names = {
        "FavoritesTable": config.favorites_table,
        "FavoriteCountsTable": config.counts_table,
        "PersistedDocumentsTable": config.documents_table,
    }
    definitions = tables.resources()
    assert {k for k, v in resources.items() if v["Type"] == "AWS::DynamoDB::Table"} == set(names)
    for logical_id, name in names.items():
        expected = copy.deepcopy(definitions[logical_id])
        expected["Properties"]["TableName"] = name
        assert resources[logical_id] == expected
        # ...and the tests and local stack create the same keys and indexes.
        request = tables.create_table_request(logical_id, name)
        properties = resources[logical_id]["Properties"]
        for key in ("KeySchema", "AttributeDefinitions", "GlobalSecondaryIndexes", "BillingMode"):
            assert request.get(key) == properties.get(key)


def test_table_settings(packaged: Package) -> None:
    resources = _resources(packaged)
    favorites, counts = resources["FavoritesTable"], resources["FavoriteCountsTable"]
    assert favorites["DeletionPolicy"] == favorites["UpdateReplacePolicy"] == "Retain"
    assert favorites["Properties"]["DeletionProtectionEnabled"] is True
    assert favorites["Properties"]["StreamSpecification"] == {
        "StreamViewType": "NEW_AND_OLD_IMAGES"
    }
    assert counts["Properties"]["TimeToLiveSpecification"] == {
        "AttributeName": "expires_at",
        "Enabled": True,
    }
    for table in (favorites, counts):
        assert table["Properties"]["BillingMode"] == "PAY_PER_REQUEST"
        assert table["Properties"]["PointInTimeRecoverySpecification"] == {
            "PointInTimeRecoveryEnabled": True
        }


def test_stream_event_source(packaged: Package) -> None:
    function = _resources(packaged)[merge.STREAM_FUNCTION]
    (source,) = function["Properties"]["Events"].values()
    assert source["Type"] == "DynamoDB"
    properties = source["Properties"]
    assert properties["Stream"] == {"Fn::GetAtt": ["FavoritesTable", "StreamArn"]}
    patterns = [json.loads(f["Pattern"]) for f in properties["FilterCriteria"]["Filters"]]
    # Lambda filters DynamoDB records on the `dynamodb` key only (and ORs the
    # filters); tests/integration/test_stream_filter.py runs them on real records.
    assert len(patterns) == 2
    assert all(set(pattern) == {"dynamodb"} for pattern in patterns)
    assert properties["FunctionResponseTypes"] == ["ReportBatchItemFailures"]
    assert properties["BisectBatchOnFunctionError"] is True
    assert 0 < properties["MaximumRetryAttempts"] <= 100
    # Records live 24 h in the stream; give up (to the queue) well before that.
    assert 60 <= properties["MaximumRecordAgeInSeconds"] < 24 * 3600
    assert properties["DestinationConfig"]["OnFailure"] == {
        "Type": "SQS",
        "Destination": {"Fn::GetAtt": [merge.FAILURE_QUEUE, "Arn"]},
    }
    assert properties["StartingPosition"] == "TRIM_HORIZON"
    assert properties["BatchSize"] == 100


def test_functions_use_the_stacks_resources_and_stage_settings(packaged: Package) -> None:
    resources = _resources(packaged)
    config = stage(packaged.stage)
    for logical_id in FUNCTIONS:
        variables = resources[logical_id]["Properties"]["Environment"]["Variables"]
        assert variables["FAVORITES_TABLE"] == {"Ref": "FavoritesTable"}
        assert variables["FAVORITE_COUNTS_TABLE"] == {"Ref": "FavoriteCountsTable"}
        assert variables["FAVORITES_STREAM_ARN"] == {"Fn::GetAtt": ["FavoritesTable", "StreamArn"]}
        assert variables["COGNITO_USER_POOL_ARN"] == {"Fn::GetAtt": ["UserPool", "Arn"]}
        for name in ("STAGE", "RANKING_SHARDS", "DAY_BUCKET_RETENTION_DAYS", "GRAPHIQL_ENABLED"):
            assert variables[name] == config.environment[name]
        assert "DYNAMODB_ENDPOINT_URL" not in variables
    for function, (logical_id, _) in merge.FUNCTIONS.items():
        properties = resources[logical_id]["Properties"]
        assert properties["FunctionName"] == config.function_name(function)
        # Sizes come from config.json's lambda_functions, as Chalice reads them.
        assert properties["Timeout"] == config.timeout(function)
        assert properties["MemorySize"] == config.memory_size(function)
    # Nothing of the placeholder ARNs chalice saw at package time survives.
    assert "000000000000" not in json.dumps(packaged.template())


def test_graphiql_is_off_in_prod_only(packages: dict[str, Package]) -> None:
    for name, expected in (("dev", "true"), ("prod", "false")):
        for logical_id in FUNCTIONS:
            function = packages[name].template()["Resources"][logical_id]
            assert function["Properties"]["Environment"]["Variables"]["GRAPHIQL_ENABLED"] == (
                expected
            )


def test_authorizer_trusts_the_stacks_user_pool(packaged: Package) -> None:
    resources = _resources(packaged)
    api = resources[merge.REST_API]["Properties"]
    authorizer = api["DefinitionBody"]["securityDefinitions"][merge.AUTHORIZER]
    assert authorizer["x-amazon-apigateway-authorizer"]["providerARNs"] == [
        {"Fn::GetAtt": ["UserPool", "Arn"]}
    ]
    assert authorizer["x-amazon-apigateway-authtype"] == "cognito_user_pools"
    assert resources["UserPool"]["Type"] == "AWS::Cognito::UserPool"
    client = resources["UserPoolClient"]["Properties"]
    assert client["UserPoolId"] == {"Ref": "UserPool"}
    assert client["GenerateSecret"] is False
    # /graphql is protected, /public/graphql is not; CORS preflights carry no token
    # (browsers never send one) and are answered with CORS headers only.
    paths = api["DefinitionBody"]["paths"]
    assert set(paths["/graphql"]) == {"get", "post", "options"}
    for method, op in paths["/graphql"].items():
        assert op.get("security") == (None if method == "options" else [{merge.AUTHORIZER: []}])
    assert all("security" not in op for op in paths["/public/graphql"].values())


def test_tracing_is_active_everywhere(packaged: Package) -> None:
    resources = _resources(packaged)
    for logical_id in FUNCTIONS:
        assert resources[logical_id]["Properties"]["Tracing"] == "Active"
    assert resources[merge.REST_API]["Properties"]["TracingEnabled"] is True


def test_reconciliation_runs_daily_with_room_for_its_scans(packaged: Package) -> None:
    from chalice.app import ScheduledEventConfig

    from app import app

    function = _resources(packaged)[merge.RECONCILE_FUNCTION]["Properties"]
    assert function["Handler"] == "app.reconcile_counts"
    (schedule,) = (s for s in app.event_sources if isinstance(s, ScheduledEventConfig))
    expression = schedule.schedule_expression
    # app.py's schedule is the one in the template, and it is daily.
    assert not isinstance(expression, str)
    assert expression.to_string() == "rate(1 day)"
    assert function["Events"] == {
        merge.RECONCILE_EVENT: {"Type": "Schedule", "Properties": {"Schedule": "rate(1 day)"}}
    }
    # Two full scans of growing tables: Lambda's longest run and more than the
    # API's memory (threads per scan segment hold their pages).
    assert function["Timeout"] == 900
    assert function["MemorySize"] >= 1024


def test_cursor_secret_is_generated_in_the_stack_and_given_to_the_api_only(
    packaged: Package,
) -> None:
    resources = _resources(packaged)
    secret = resources[merge.CURSOR_SECRET]
    assert secret["Type"] == "AWS::SecretsManager::Secret"
    generated = secret["Properties"]["GenerateSecretString"]
    assert generated["PasswordLength"] >= 32
    assert "SecretString" not in secret["Properties"]  # no value in the template
    api = resources[merge.API_FUNCTION]["Properties"]["Environment"]["Variables"]
    # A dynamic reference: CloudFormation resolves it at deploy time, so the
    # function needs no secretsmanager permission (test_policy checks none is granted).
    assert api["CURSOR_SECRET"] == {
        "Fn::Sub": "{{resolve:secretsmanager:${CursorSecret}:SecretString}}"
    }
    for logical_id in FUNCTIONS:
        if logical_id != merge.API_FUNCTION:
            variables = resources[logical_id]["Properties"]["Environment"]["Variables"]
            assert "CURSOR_SECRET" not in variables
    assert "secretsmanager:" not in json.dumps(
        [resources[role]["Properties"]["Policies"] for role in merge.ROLES]
    )
    # A rotated secret is read when the function is updated: a new generation
    # (stack parameter) changes the function, so CloudFormation resolves it again.
    description = resources[merge.API_FUNCTION]["Properties"]["Description"]["Fn::Sub"]
    assert "${CursorKeyGeneration}" in description
    assert packaged.template()["Parameters"]["CursorKeyGeneration"]["Default"] == "1"
    # What the function gets once resolved is not the public development key.
    assert DEV_CURSOR_SECRET not in json.dumps(packaged.template())


def test_failure_queue(packaged: Package) -> None:
    queue = _resources(packaged)[merge.FAILURE_QUEUE]
    assert queue["Type"] == "AWS::SQS::Queue"
    assert queue["Properties"]["QueueName"] == stage(packaged.stage).failure_queue_name
    assert queue["Properties"]["MessageRetentionPeriod"] == 14 * 24 * 3600


def test_erasure_queue_dead_letters_and_who_may_send(packaged: Package) -> None:
    config = stage(packaged.stage)
    resources = packaged.transformed()["Resources"]
    queue = resources[merge.ERASURE_QUEUE]["Properties"]
    assert queue["QueueName"] == config.erasure_queue_name
    # A message is received at most this often, then kept 14 days in the dead letters.
    assert queue["RedrivePolicy"] == {
        "deadLetterTargetArn": {"Fn::GetAtt": [merge.ERASURE_DEAD_LETTERS, "Arn"]},
        "maxReceiveCount": merge.ERASURE_MAX_RECEIVES,
    }
    assert queue["VisibilityTimeout"] >= 6 * config.timeout("erase_favorites")
    dead = resources[merge.ERASURE_DEAD_LETTERS]["Properties"]
    assert dead["QueueName"] == config.erasure_dead_letter_queue_name
    assert dead["MessageRetentionPeriod"] == 14 * 24 * 3600
    assert queue["SqsManagedSseEnabled"] is True
    assert dead["SqsManagedSseEnabled"] is True
    # The function reads the stack's queue, one message at a time, answering per message.
    (mapping,) = [
        r["Properties"]
        for r in resources.values()
        if r["Type"] == "AWS::Lambda::EventSourceMapping"
        and r["Properties"]["FunctionName"] == {"Ref": merge.ERASE_FUNCTION}
    ]
    assert mapping["EventSourceArn"] == {"Fn::Sub": "${ErasureQueue.Arn}"}
    assert mapping["BatchSize"] == 1
    assert mapping["FunctionResponseTypes"] == ["ReportBatchItemFailures"]
    # Only the account service's role sends: allowed to it, denied to every
    # other principal; with no sender given, denied to everybody.
    parameter = packaged.template()["Parameters"][merge.ERASURE_SENDER]
    assert parameter["Default"] == ""
    assert re.fullmatch(parameter["AllowedPattern"], "arn:aws:iam::123456789012:role/accounts")
    assert not re.fullmatch(parameter["AllowedPattern"], "arn:aws:iam::123456789012:root")
    assert not re.fullmatch(parameter["AllowedPattern"], "*")
    policy = resources[merge.ERASURE_QUEUE_POLICY]["Properties"]
    assert policy["Queues"] == [{"Ref": merge.ERASURE_QUEUE}]
    allow, deny = policy["PolicyDocument"]["Statement"]
    condition, allowed, absent = allow["Fn::If"]
    assert condition == merge.HAS_ERASURE_SENDER
    assert absent == {"Ref": "AWS::NoValue"}
    assert allowed["Effect"] == "Allow"
    assert allowed["Principal"] == {"AWS": {"Ref": merge.ERASURE_SENDER}}
    assert allowed["Action"] == "sqs:SendMessage"
    condition, deny_others, deny_all = deny["Fn::If"]
    assert condition == merge.HAS_ERASURE_SENDER
    for statement in (deny_others, deny_all):
        assert statement["Effect"] == "Deny"
        assert statement["Principal"] == "*"
        assert statement["Action"] == "sqs:SendMessage"
        assert statement["Resource"] == {"Fn::GetAtt": [merge.ERASURE_QUEUE, "Arn"]}
    assert deny_others["Condition"] == {
        "ArnNotEquals": {"aws:PrincipalArn": {"Ref": merge.ERASURE_SENDER}}
    }
    assert "Condition" not in deny_all
    outputs = packaged.template()["Outputs"]
    assert outputs["ErasureQueueUrl"] == {"Value": {"Ref": merge.ERASURE_QUEUE}}


def test_every_role_carries_its_functions_policy_narrowed_to_the_stack(
    packaged: Package,
) -> None:
    resources = _resources(packaged)
    roles = {k: v for k, v in resources.items() if v["Type"] == "AWS::IAM::Role"}
    # The functions' roles, and API Gateway's role for writing access logs
    # (test_operations checks that one).
    assert set(roles) == {*merge.ROLES, logs.API_GATEWAY_LOG_ROLE}
    functions = {k for k, v in resources.items() if v["Type"] == "AWS::Serverless::Function"}
    assert functions == set(FUNCTIONS)
    for function, (logical_id, role_id) in merge.FUNCTIONS.items():
        # One role per function, and the role is that function's.
        assert resources[logical_id]["Properties"]["Role"] == {"Fn::GetAtt": [role_id, "Arn"]}
        role = roles[role_id]
        file_policy = stage(packaged.stage).policy(function)
        assert not role["Properties"].get("ManagedPolicyArns")
        (policy,) = role["Properties"]["Policies"]
        document = policy["PolicyDocument"]
        assert len(document["Statement"]) == len(file_policy["Statement"])
        for statement, original in zip(
            document["Statement"], file_policy["Statement"], strict=True
        ):
            assert statement["Action"] == original["Action"]
            resources_of = statement["Resource"]
            resources_of = resources_of if isinstance(resources_of, list) else [resources_of]
            for resource in resources_of:
                if resource == "*":
                    # Only X-Ray has no resource-level permissions.
                    assert all(action.startswith("xray:") for action in statement["Action"])
                else:
                    assert re.match(
                        r"^arn:\$\{AWS::Partition\}:[a-z]+:\$\{AWS::Region\}:"
                        r"\$\{AWS::AccountId\}:[^*]",
                        resource["Fn::Sub"],
                    ), resource


def test_no_stray_wildcard_anywhere(packaged: Package) -> None:
    template = packaged.template()
    for node in _walk(template):
        if isinstance(node, dict) and "Action" in node and "Effect" in node:
            actions = node["Action"] if isinstance(node["Action"], list) else [node["Action"]]
            assert all("*" not in action for action in actions), node
            if node.get("Resource") == "*":
                assert node["Action"] == ["xray:PutTelemetryRecords", "xray:PutTraceSegments"]
    text = json.dumps(template)
    assert ":*:*:" not in text  # no account/region wildcard left in any ARN
    assert '"arn:aws:' not in text  # every ARN follows the stack's partition


def test_stream_timeout_covers_the_retry_budget(packaged: Package) -> None:
    template = packaged.template()
    function = template["Resources"][merge.STREAM_FUNCTION]["Properties"]
    budget = float(function["Environment"]["Variables"]["WRITE_BUDGET_SECONDS"])
    floor = merge.stream_timeout_floor(100, budget)
    # 100 new restaurants need 400 actions: four transactions at worst.
    assert merge.max_chunks_per_batch(100) == 4
    # Four calls that may each run their full course, one retry budget per batch.
    assert floor == 4 * merge.max_call_seconds() + budget + merge.STREAM_TIMEOUT_MARGIN_SECONDS
    assert floor <= function["Timeout"] <= 900
    check_stream_timeout(template)
    # A larger budget without a larger timeout is refused at package time.
    bigger = copy.deepcopy(template)
    variables = bigger["Resources"][merge.STREAM_FUNCTION]["Properties"]["Environment"]
    variables["Variables"]["WRITE_BUDGET_SECONDS"] = str(int(function["Timeout"]))
    with pytest.raises(PackageError, match="lambda_timeout"):
        check_stream_timeout(bigger)
    # The API answers within API Gateway's 29 s integration limit.
    api = template["Resources"][merge.API_FUNCTION]["Properties"]
    assert api["Timeout"] <= 29


def test_validation_catches_a_broken_template(packaged: Package, tmp_path: Path) -> None:
    # Proof that the checks in `package` really look at this template.
    broken = packaged.template()
    broken["Resources"]["FavoritesTable"]["Properties"]["BillingMode"] = "FREE"
    path = tmp_path / "broken.json"
    path.write_text(json.dumps(broken))
    with pytest.raises(PackageError, match="FREE"):
        lint(path)
    events = broken["Resources"][merge.STREAM_FUNCTION]["Properties"]["Events"]
    events[merge.STREAM_EVENT_SOURCE]["Type"] = "DynamoDBStreamz"
    with pytest.raises(PackageError, match="DynamoDBStreamz"):
        sam_transform(broken)


def test_sam_expands_to_the_intended_cloudformation(packaged: Package) -> None:
    """What CloudFormation will create once the SAM transform has run."""
    resources = packaged.transformed()["Resources"]
    by_type: dict[str, list[dict[str, Any]]] = {}
    for resource in resources.values():
        by_type.setdefault(resource["Type"], []).append(resource)
    # The stream's mapping; the erasure queue's is checked by its own test.
    mappings = {
        m["Properties"]["FunctionName"]["Ref"]: m
        for m in by_type["AWS::Lambda::EventSourceMapping"]
    }
    assert set(mappings) == {merge.STREAM_FUNCTION, merge.ERASE_FUNCTION}
    properties = mappings[merge.STREAM_FUNCTION]["Properties"]
    assert properties["EventSourceArn"] == {"Fn::GetAtt": ["FavoritesTable", "StreamArn"]}
    assert properties["FunctionName"] == {"Ref": merge.STREAM_FUNCTION}
    assert properties["FunctionResponseTypes"] == ["ReportBatchItemFailures"]
    assert properties["BisectBatchOnFunctionError"] is True
    assert properties["MaximumRetryAttempts"] == merge.MAXIMUM_RETRY_ATTEMPTS
    assert properties["MaximumRecordAgeInSeconds"] == merge.MAXIMUM_RECORD_AGE_SECONDS
    assert properties["FilterCriteria"]["Filters"] == [
        {"Pattern": pattern} for pattern in merge.STREAM_FILTERS
    ]
    assert properties["DestinationConfig"] == {
        "OnFailure": {"Destination": {"Fn::GetAtt": [merge.FAILURE_QUEUE, "Arn"]}}
    }
    (api_stage,) = by_type["AWS::ApiGateway::Stage"]
    assert api_stage["Properties"]["TracingEnabled"] is True
    functions = by_type["AWS::Lambda::Function"]
    assert len(functions) == len(merge.FUNCTIONS)
    assert all(f["Properties"]["TracingConfig"] == {"Mode": "Active"} for f in functions)
    # The daily schedule: an EventBridge rule that may invoke the reconciler.
    (rule,) = by_type["AWS::Events::Rule"]
    assert rule["Properties"]["ScheduleExpression"] == "rate(1 day)"
    (target,) = rule["Properties"]["Targets"]
    assert target["Arn"] == {"Fn::GetAtt": [merge.RECONCILE_FUNCTION, "Arn"]}
    invokers = {
        p["Properties"]["Principal"]: p["Properties"]["FunctionName"]
        for p in by_type["AWS::Lambda::Permission"]
    }
    assert invokers["events.amazonaws.com"] == {"Ref": merge.RECONCILE_FUNCTION}
    # The SAM expansion adds no role or policy of its own.
    assert len(by_type["AWS::IAM::Role"]) == len(merge.FUNCTIONS) + 1
    assert "AWS::IAM::Policy" not in by_type


def test_zip_holds_the_app_and_runtime_dependencies_only(packaged: Package) -> None:
    with zipfile.ZipFile(packaged.zip_path) as archive:
        names = archive.namelist()
    tops = {name.split("/", 1)[0] for name in names}
    assert "app.py" in tops
    shipped = {name for name in names if name.startswith("chalicelib/") and name.endswith(".py")}
    expected = {path.relative_to(ROOT).as_posix() for path in (ROOT / "chalicelib").rglob("*.py")}
    assert shipped == expected
    for forbidden in ("tests", "local", "infra", "bench", ".chalice", "dist", "node_modules"):
        assert forbidden not in tops
    dev_only = ("pytest", "_pytest", "moto", "mypy", "ruff", "cfnlint", "mypy_boto3_dynamodb")
    for package_name in dev_only:
        assert package_name not in tops
    # The stage's tracing backend only (tests/deploy/test_shipped_tracing.py).
    tracer = {"opentelemetry": "opentelemetry", "xray-sdk": "aws_xray_sdk"}[
        from_env(stage(packaged.stage).environment).tracing_backend
    ]
    for runtime in ("strawberry", "graphql", tracer, "boto3", "botocore"):
        assert runtime in tops
    assert not any(name.endswith("conftest.py") for name in names)
    # Bytecode only as shipped: one .pyc beside each .py (tests/deploy/test_shipped_zip.py).
    sources = {name for name in names if name.endswith(".py")}
    for name in names:
        if name.endswith(".pyc"):
            assert importlib.util.source_from_cache(name) in sources, name


def test_report_names_size_and_largest_packages(packaged: Package) -> None:
    report = zip_report(packaged.zip_path)
    assert "MB zipped" in report
    assert "botocore" in report
    size_mb = packaged.zip_path.stat().st_size / 1e6
    assert f"{size_mb:.1f} MB zipped" in report
    assert size_mb < 50  # Lambda's limit for a direct zip upload
