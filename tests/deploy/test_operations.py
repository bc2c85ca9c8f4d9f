"""The packaged stack watches itself, checked on what CloudFormation will really
create (the SAM-expanded template of dev and prod): alarms to a topic, a
dashboard, log groups with retention, JSON access logs, limits, one API stage."""

from __future__ import annotations

import json
import re
from typing import Any

from chalicelib.metrics import RECONCILE_METRICS, STREAM_METRICS
from chalicelib.settings import from_env
from infra import alarms, logs
from infra import template as merge
from infra.package import Package
from infra.stages import stage


def _by_type(packaged: Package) -> dict[str, dict[str, dict[str, Any]]]:
    found: dict[str, dict[str, dict[str, Any]]] = {}
    for logical_id, resource in packaged.transformed()["Resources"].items():
        found.setdefault(resource["Type"], {})[logical_id] = resource
    return found


def _alarms(packaged: Package) -> dict[str, dict[str, Any]]:
    return {
        logical_id: resource["Properties"]
        for logical_id, resource in _by_type(packaged)["AWS::CloudWatch::Alarm"].items()
    }


def _metrics(alarm: dict[str, Any]) -> list[dict[str, Any]]:
    """The metrics an alarm reads: (namespace, name, dimensions, stat)."""
    return [
        {
            "namespace": q["MetricStat"]["Metric"]["Namespace"],
            "name": q["MetricStat"]["Metric"]["MetricName"],
            "dimensions": {d["Name"]: d["Value"] for d in q["MetricStat"]["Metric"]["Dimensions"]},
            "stat": q["MetricStat"]["Stat"],
        }
        for q in alarm["Metrics"]
        if "MetricStat" in q
    ]


def _reading(packaged: Package, namespace: str, name: str) -> list[dict[str, Any]]:
    """Alarms that read ``namespace/name``, with that metric's dimensions."""
    found = []
    for alarm in _alarms(packaged).values():
        for metric in _metrics(alarm):
            if (metric["namespace"], metric["name"]) == (namespace, name):
                found.append({**alarm, "metric": metric})
    return found


def test_exactly_one_api_stage_traced_throttled_and_access_logged(packaged: Package) -> None:
    config = stage(packaged.stage)
    ops = config.operations
    by_type = _by_type(packaged)
    (api_stage,) = by_type["AWS::ApiGateway::Stage"].values()
    # SAM's deployment would otherwise create a second stage named "Stage".
    for deployment in by_type["AWS::ApiGateway::Deployment"].values():
        assert "StageName" not in deployment["Properties"]
    properties = api_stage["Properties"]
    assert properties["StageName"] == config.api_gateway_stage
    assert properties["TracingEnabled"] is True
    (settings,) = properties["MethodSettings"]
    assert (settings["ResourcePath"], settings["HttpMethod"]) == ("/*", "*")
    assert settings["ThrottlingRateLimit"] == ops.api_rate_limit
    assert settings["ThrottlingBurstLimit"] == ops.api_burst_limit
    # Execution logs and data traces would write request headers (tokens).
    assert settings["DataTraceEnabled"] is False
    assert settings["LoggingLevel"] == "OFF"
    access = properties["AccessLogSetting"]
    assert access["DestinationArn"] == {"Fn::GetAtt": [logs.ACCESS_LOG_GROUP, "Arn"]}
    fields = json.loads(access["Format"])
    # The id the service puts in its errors' extensions.requestId.
    assert fields["requestId"] == "$context.requestId"
    assert {"status", "resourcePath", "httpMethod", "responseLatency"} <= set(fields)
    # Nothing that could carry a token or a secret.
    for variable in fields.values():
        assert not any(word in variable.lower() for word in ("header", "claims", "token", "body"))
    (rest_api,) = by_type["AWS::ApiGateway::RestApi"].values()
    assert rest_api["Properties"]["Name"] == config.api_name
    assert rest_api["Properties"]["Body"]["info"]["title"] == config.api_name
    # The account's logging role exists before the stage that needs it.
    account = by_type["AWS::ApiGateway::Account"][logs.API_GATEWAY_ACCOUNT]
    assert account["Properties"]["CloudWatchRoleArn"] == {
        "Fn::GetAtt": [logs.API_GATEWAY_LOG_ROLE, "Arn"]
    }
    assert logs.API_GATEWAY_ACCOUNT in rest_api["DependsOn"]
    role = by_type["AWS::IAM::Role"][logs.API_GATEWAY_LOG_ROLE]
    assert role["DeletionPolicy"] == "Retain"
    (statement,) = role["Properties"]["AssumeRolePolicyDocument"]["Statement"]
    assert statement["Principal"] == {"Service": "apigateway.amazonaws.com"}


def test_every_log_group_is_the_stacks_with_the_stage_retention(packaged: Package) -> None:
    config = stage(packaged.stage)
    by_type = _by_type(packaged)
    groups = by_type["AWS::Logs::LogGroup"]
    retention = config.operations.log_retention_days
    assert all(g["Properties"]["RetentionInDays"] == retention for g in groups.values())
    names = {g["Properties"]["LogGroupName"] for g in groups.values()}
    for function, (logical_id, _) in merge.FUNCTIONS.items():
        # Lambda writes to /aws/lambda/<name>: the stack creates it first.
        assert f"/aws/lambda/{config.function_name(function)}" in names
        resource = by_type["AWS::Lambda::Function"][logical_id]
        assert logs.log_group_id(function) in resource["DependsOn"]
    assert len(groups) == len(merge.FUNCTIONS) + 1  # and the API's access log
    assert retention >= 7


def test_the_stream_function_has_concurrency_no_api_traffic_can_take(packaged: Package) -> None:
    config = stage(packaged.stage)
    functions = _by_type(packaged)["AWS::Lambda::Function"]
    stream = functions[merge.STREAM_FUNCTION]["Properties"]
    reserved = stream["ReservedConcurrentExecutions"]
    assert reserved == config.reserved_concurrency("aggregate_favorites")
    assert reserved >= 2
    # The API is bounded by the stage's throttling instead: reserving for it
    # would cap its scaling and take from the account's unreserved pool.
    assert "ReservedConcurrentExecutions" not in functions[merge.API_FUNCTION]["Properties"]


def test_every_alarm_notifies_the_stacks_topic(packaged: Package) -> None:
    by_type = _by_type(packaged)
    assert alarms.ALARM_TOPIC in by_type["AWS::SNS::Topic"]
    packaged_alarms = _alarms(packaged)
    assert len(packaged_alarms) >= 8
    for alarm in packaged_alarms.values():
        assert alarm["AlarmActions"] == [{"Ref": alarms.ALARM_TOPIC}]
        assert alarm["AlarmDescription"]
        assert alarm["AlarmName"].startswith(f"favorites-{packaged.stage}-")
        returned = [q for q in alarm["Metrics"] if q["ReturnData"]]
        assert len(returned) == 1
    # An e-mail address given as a stack parameter is subscribed; none, no subscription.
    template = packaged.transformed()
    assert template["Parameters"][merge.ALARM_EMAIL]["Default"] == ""
    subscription = by_type["AWS::SNS::Subscription"][alarms.ALARM_SUBSCRIPTION]
    assert subscription["Condition"] == merge.HAS_ALARM_EMAIL
    assert subscription["Properties"]["Endpoint"] == {"Ref": merge.ALARM_EMAIL}
    assert template["Outputs"]["AlarmTopicArn"] == {"Value": {"Ref": alarms.ALARM_TOPIC}}


def test_the_alarms_an_operator_needs(packaged: Package) -> None:
    config = stage(packaged.stage)
    ops = config.operations
    stream = config.function_name("aggregate_favorites")

    (age,) = _reading(packaged, "AWS/Lambda", "IteratorAge")
    assert age["metric"]["dimensions"] == {"FunctionName": stream}
    assert age["metric"]["stat"] == "Maximum"
    assert age["Threshold"] == ops.iterator_age_alarm_seconds * 1000  # milliseconds
    assert age["ComparisonOperator"] == "GreaterThanOrEqualToThreshold"

    queues = {
        a["metric"]["dimensions"]["QueueName"]: a
        for a in _reading(packaged, "AWS/SQS", "ApproximateNumberOfMessagesVisible")
    }
    # The stream's failure queue and the erasure dead-letter queue: any message.
    assert set(queues) == {config.failure_queue_name, config.erasure_dead_letter_queue_name}
    for queue in queues.values():
        assert queue["Threshold"] == 1
        assert queue["metric"]["stat"] == "Maximum"

    for metric in ("Errors", "Throttles"):
        read = {
            a["metric"]["dimensions"]["FunctionName"]
            for a in _reading(packaged, "AWS/Lambda", metric)
        }
        assert read == {config.function_name(f) for f in merge.FUNCTIONS}, metric

    throttles = _reading(packaged, "AWS/DynamoDB", "WriteThrottleEvents")
    assert {tuple(sorted(a["metric"]["dimensions"].items())) for a in throttles} == {
        (("TableName", config.counts_table),),
        (("GlobalSecondaryIndexName", "by_count"), ("TableName", config.counts_table)),
    }

    namespace = from_env(config.environment).metrics_namespace
    (poison,) = _reading(packaged, namespace, "poison")
    assert poison["Threshold"] == 1
    (drift,) = _reading(packaged, namespace, "drift")
    assert _reading(packaged, namespace, "misplaced")[0]["AlarmName"] == drift["AlarmName"]
    # Differences that moved by the re-check are a busy stream, not drift: no alarm.
    assert _reading(packaged, namespace, "in_flight") == []

    (errors_5xx,) = _reading(packaged, "AWS/ApiGateway", "5XXError")
    # The dimensions API Gateway publishes: the REST API's name and the stage.
    assert errors_5xx["metric"]["dimensions"] == {
        "ApiName": config.api_name,
        "Stage": config.api_gateway_stage,
    }
    assert errors_5xx["Threshold"] == ops.api_5xx_alarm_count

    # Writes to the favorites table with no stream batch: the filter or the
    # mapping drops records and nothing else would fail.
    (silent,) = _reading(packaged, namespace, "records")
    (expression,) = [q for q in silent["Metrics"] if q["ReturnData"]]
    assert "writes" in expression["Expression"]
    assert "records" in expression["Expression"]
    assert silent["TreatMissingData"] == "notBreaching"


def test_alarms_read_the_metrics_the_service_publishes(packaged: Package) -> None:
    """A renamed log field would leave an alarm watching nothing."""
    config = stage(packaged.stage)
    namespace = from_env(config.environment).metrics_namespace
    published = set(STREAM_METRICS) | set(RECONCILE_METRICS)
    own = [
        metric
        for alarm in _alarms(packaged).values()
        for metric in _metrics(alarm)
        if metric["namespace"] == namespace
    ]
    assert own
    for metric in own:
        assert metric["name"] in published, metric
        # The dimension set chalicelib.metrics writes for this stage.
        assert metric["dimensions"] == {"Stage": config.environment["STAGE"]}


def test_the_dashboard_shows_every_alarm(packaged: Package) -> None:
    (dashboard,) = _by_type(packaged)["AWS::CloudWatch::Dashboard"].values()
    body = dashboard["Properties"]["DashboardBody"]["Fn::Sub"]
    widgets = json.loads(body.replace("${AWS::Region}", "us-east-1"))["widgets"]
    titles = {widget["properties"]["title"] for widget in widgets}
    for alarm in alarms.for_stage(stage(packaged.stage)):
        assert alarm.title in titles
    assert all(widget["properties"]["metrics"] for widget in widgets)
    for widget in widgets:
        rows = widget["properties"]["metrics"]
        ids = {row[-1]["id"] for row in rows if "id" in row[-1]}
        for row in rows:
            if "expression" in row[-1]:
                # Every metric an expression names is a row of the same widget.
                named = set(re.findall(r"\b([a-z][a-z0-9_]*)\b", row[-1]["expression"]))
                assert named - {"fill", "if", "and"} <= ids, (widget["properties"]["title"], row)


def test_the_dashboard_draws_the_reconciliations_differences_in_flight(packaged: Package) -> None:
    (dashboard,) = _by_type(packaged)["AWS::CloudWatch::Dashboard"].values()
    body = dashboard["Properties"]["DashboardBody"]["Fn::Sub"]
    widgets = json.loads(body.replace("${AWS::Region}", "us-east-1"))["widgets"]
    drawn = {row[1] for w in widgets for row in w["properties"]["metrics"] if len(row) > 2}
    assert {"in_flight", "drift", "unsettled"} <= drawn


def _as_alarm_query(row: list[Any]) -> dict[str, Any]:
    """A dashboard widget's row, written as an alarm's MetricDataQuery."""
    *metric, rendering = row
    query = {"Id": rendering["id"], "ReturnData": rendering["visible"]}
    if "expression" in rendering:
        return {**query, "Label": rendering["label"], "Expression": rendering["expression"]}
    namespace, name, *pairs = metric
    dimensions = [{"Name": k, "Value": v} for k, v in zip(pairs[::2], pairs[1::2], strict=True)]
    return {
        **query,
        "MetricStat": {
            "Metric": {"Namespace": namespace, "MetricName": name, "Dimensions": dimensions},
            "Period": rendering["period"],
            "Stat": rendering["stat"],
        },
    }


def test_each_alarms_graph_draws_exactly_what_the_alarm_compares(packaged: Package) -> None:
    (dashboard,) = _by_type(packaged)["AWS::CloudWatch::Dashboard"].values()
    body = dashboard["Properties"]["DashboardBody"]["Fn::Sub"]
    widgets = json.loads(body.replace("${AWS::Region}", "us-east-1"))["widgets"]
    by_title = {widget["properties"]["title"]: widget["properties"] for widget in widgets}
    prefix = f"favorites-{packaged.stage}-"
    for alarm in _alarms(packaged).values():
        graph = by_title[alarm["AlarmName"].removeprefix(prefix)]
        # Same metrics, dimensions, statistics, periods and expressions; the
        # line the alarm compares is the one drawn.
        assert [_as_alarm_query(row) for row in graph["metrics"]] == alarm["Metrics"]
        assert graph["annotations"]["horizontal"][0]["value"] == alarm["Threshold"]
