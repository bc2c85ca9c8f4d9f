"""The stack watches itself: alarms, their topic, a dashboard, log groups,
access logs and the API stage's limits, per stage (``infra.stages.Operations``).

The worst failure of this service is silent: the stream stops being counted
and the rankings freeze while the API answers 200. Every alarm here notifies
one SNS topic; the README's "Operating it in AWS" section says what each one
means and what to do. The dashboard shows the same queries as the alarms, so
what pages an operator is what they see first.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

from chalicelib.metrics import STREAM_METRICS
from chalicelib.settings import from_env
from infra.stages import Stage

ALARM_TOPIC = "AlarmTopic"
ALARM_EMAIL = "AlarmEmail"  # stack parameter: an address to subscribe, or empty
ALARM_SUBSCRIPTION = "AlarmEmailSubscription"
HAS_ALARM_EMAIL = "HasAlarmEmail"
DASHBOARD = "Dashboard"
ACCESS_LOG_GROUP = "ApiAccessLogGroup"
# API Gateway writes logs through one role per account and region.
API_GATEWAY_ACCOUNT = "ApiGatewayAccount"
API_GATEWAY_LOG_ROLE = "ApiGatewayCloudWatchRole"
COUNTS_INDEX = "by_count"

# One JSON object per request. requestId is the id the service puts in its
# errors (extensions.requestId), so an error seen by a client leads here. No
# header, token or body is logged.
ACCESS_LOG_FORMAT = json.dumps(
    {
        "requestId": "$context.requestId",
        "extendedRequestId": "$context.extendedRequestId",
        "requestTime": "$context.requestTime",
        "httpMethod": "$context.httpMethod",
        "resourcePath": "$context.resourcePath",
        "status": "$context.status",
        "protocol": "$context.protocol",
        "responseLength": "$context.responseLength",
        "responseLatency": "$context.responseLatency",
        "integrationLatency": "$context.integrationLatency",
        "integrationStatus": "$context.integrationStatus",
        "errorMessage": "$context.error.message",
        "authorizerError": "$context.authorizer.error",
        "sourceIp": "$context.identity.sourceIp",
        "userAgent": "$context.identity.userAgent",
        "xrayTraceId": "$context.xrayTraceId",
    },
    separators=(",", ":"),
)


@dataclass(frozen=True)
class Query:
    """One line of an alarm's metric math: a metric, or an expression over them."""

    id: str
    namespace: str = ""
    metric: str = ""
    dimensions: dict[str, str] = field(default_factory=dict)
    stat: str = "Sum"
    expression: str = ""
    label: str = ""

    def cloudformation(self, period: int, returned: bool) -> dict[str, Any]:
        query: dict[str, Any] = {"Id": self.id, "ReturnData": returned}
        if self.label:
            query["Label"] = self.label
        if self.expression:
            query["Expression"] = self.expression
            return query
        query["MetricStat"] = {
            "Metric": {
                "Namespace": self.namespace,
                "MetricName": self.metric,
                "Dimensions": [{"Name": k, "Value": v} for k, v in self.dimensions.items()],
            },
            "Period": period,
            "Stat": self.stat,
        }
        return query

    def widget(self, period: int, returned: bool) -> list[Any]:
        options: dict[str, Any] = {"id": self.id, "visible": returned}
        if self.label:
            options["label"] = self.label
        if self.expression:
            return [{"expression": self.expression, **options}]
        dimensions = [part for item in self.dimensions.items() for part in item]
        # The id lets the widget's expressions name this metric, as the alarm's do.
        rendering = {"stat": self.stat, "period": period, **options}
        return [self.namespace, self.metric, *dimensions, rendering]


@dataclass(frozen=True)
class Alarm:
    logical_id: str
    title: str
    # What the alarm means; the runbook (README) says what to do.
    description: str
    queries: tuple[Query, ...]
    threshold: float
    period: int = 300
    evaluation_periods: int = 1
    # No data means nothing happened (no errors, no batches), which is fine,
    # except for the alarms that watch for silence themselves.
    missing_data: str = "notBreaching"
    notify_ok: bool = True

    @property
    def returned(self) -> str:
        """The query the alarm compares: the last one (an expression, if any)."""
        return self.queries[-1].id

    def cloudformation(self, stage: Stage) -> dict[str, Any]:
        actions = [{"Ref": ALARM_TOPIC}]
        return {
            "Type": "AWS::CloudWatch::Alarm",
            "Properties": {
                "AlarmName": f"{stage.app_name}-{stage.name}-{self.title}",
                "AlarmDescription": self.description,
                "Metrics": [
                    q.cloudformation(self.period, q.id == self.returned) for q in self.queries
                ],
                "Threshold": self.threshold,
                "ComparisonOperator": "GreaterThanOrEqualToThreshold",
                "EvaluationPeriods": self.evaluation_periods,
                "DatapointsToAlarm": self.evaluation_periods,
                "TreatMissingData": self.missing_data,
                "AlarmActions": actions,
                **({"OKActions": actions} if self.notify_ok else {}),
            },
        }


def _lambda(metric: str, function_name: str, stat: str = "Sum") -> Query:
    return Query("m", "AWS/Lambda", metric, {"FunctionName": function_name}, stat)


def alarms(stage: Stage) -> list[Alarm]:
    ops = stage.operations
    namespace = from_env(stage.environment).metrics_namespace
    own = {"Stage": stage.name}
    stream = stage.function_name("aggregate_favorites")
    result = [
        Alarm(
            "StreamIteratorAgeAlarm",
            "stream-iterator-age",
            f"Favorites older than {ops.iterator_age_alarm_seconds} s are still waiting to be "
            "counted: the stream function is failing, throttled or too slow, and the rankings "
            "are falling behind.",
            (_lambda("IteratorAge", stream, "Maximum"),),
            threshold=ops.iterator_age_alarm_seconds * 1000,  # IteratorAge is in ms
            period=60,
            evaluation_periods=5,
        ),
        Alarm(
            "StreamSilentAlarm",
            "stream-silent",
            "Favorites were written but the stream handler reported no batch for 30 minutes: "
            "records are being dropped before the handler (event filter, disabled or deleted "
            "event source mapping) and the rankings are frozen.",
            (
                Query(
                    "writes",
                    "AWS/DynamoDB",
                    "ConsumedWriteCapacityUnits",
                    {"TableName": stage.favorites_table},
                ),
                Query("records", namespace, "records", own),
                Query(
                    "silent",
                    expression="IF(FILL(writes, 0) > 0 AND FILL(records, 0) == 0, 1, 0)",
                    label="writes without stream batches",
                ),
            ),
            threshold=1,
            period=600,
            evaluation_periods=3,
        ),
        Alarm(
            "StreamFailureQueueAlarm",
            "stream-failure-queue",
            "Lambda gave up on stream records (retries or record age exhausted) and sent "
            "their shard and sequence range to the failure queue: those favorites are not "
            "counted until reconciliation repairs them.",
            (
                Query(
                    "m",
                    "AWS/SQS",
                    "ApproximateNumberOfMessagesVisible",
                    {"QueueName": stage.failure_queue_name},
                    "Maximum",
                ),
            ),
            threshold=1,
        ),
        Alarm(
            "PoisonRecordsAlarm",
            "poison-records",
            "The stream handler skipped records it can never apply (malformed images): "
            "something writes favorites the service does not understand.",
            (Query("m", namespace, "poison", own),),
            threshold=1,
        ),
        Alarm(
            "CountsWriteThrottleAlarm",
            "counts-write-throttles",
            "Writes to the counts table or its ranking index were throttled: the stream "
            "handler retries, lag grows; a hot ranking partition needs more RANKING_SHARDS.",
            (
                Query(
                    "table",
                    "AWS/DynamoDB",
                    "WriteThrottleEvents",
                    {"TableName": stage.counts_table},
                ),
                Query(
                    "index",
                    "AWS/DynamoDB",
                    "WriteThrottleEvents",
                    {"TableName": stage.counts_table, "GlobalSecondaryIndexName": COUNTS_INDEX},
                ),
                Query(
                    "throttled",
                    expression="FILL(table, 0) + FILL(index, 0)",
                    label="throttled writes",
                ),
            ),
            threshold=1,
        ),
        Alarm(
            "ReconcileDriftAlarm",
            "reconcile-drift",
            "The daily reconciliation found counts that differ from the favorites table, or "
            "count items in the wrong ranking partition: some change was counted twice or "
            "not at all.",
            (
                Query("drift", namespace, "drift", own, "Maximum"),
                Query("misplaced", namespace, "misplaced", own, "Maximum"),
                Query(
                    "found",
                    expression="FILL(drift, 0) + FILL(misplaced, 0)",
                    label="drifted buckets + misplaced items",
                ),
            ),
            threshold=1,
            period=3600,
            # The run is daily: the alarm clears by itself once the hour passes.
            notify_ok=False,
        ),
        Alarm(
            "Api5xxAlarm",
            "api-5xx",
            "The API answered with server errors (5XX): clients see failures; the access "
            "log's requestId matches the errors' extensions.requestId.",
            (
                Query(
                    "m",
                    "AWS/ApiGateway",
                    "5XXError",
                    {"ApiName": stage.api_name, "Stage": stage.api_gateway_stage},
                ),
            ),
            threshold=ops.api_5xx_alarm_count,
        ),
    ]
    per_function = (
        ("Errors", "errors", "failed (an exception or a timeout)"),
        ("Throttles", "throttles", "was refused invocations (concurrency)"),
    )
    for function in stage.functions:
        for metric, suffix, what in per_function:
            result.append(
                Alarm(
                    f"{_camel(function)}{metric}Alarm",
                    f"{function.replace('_', '-')}-{suffix}",
                    f"The {function} function {what}.",
                    (_lambda(metric, stage.function_name(function)),),
                    threshold=1,
                )
            )
    return result


def _camel(function: str) -> str:
    return "".join(part.title() for part in function.split("_"))


def log_group_id(function: str) -> str:
    return _camel(function) + "LogGroup"


def _dashboard(stage: Stage, alarm_list: list[Alarm]) -> dict[str, Any]:
    namespace = from_env(stage.environment).metrics_namespace
    own = {"Stage": stage.name}
    batches = tuple(Query(f"s{n}", namespace, name, own) for n, name in enumerate(STREAM_METRICS))
    widgets: list[dict[str, Any]] = [
        {
            "type": "metric",
            "width": 12,
            "height": 6,
            "properties": {
                "title": "Stream batches (sum per minute)",
                "region": "${AWS::Region}",
                "metrics": [q.widget(60, True) for q in batches if q.metric != "lag_seconds"],
            },
        },
        {
            "type": "metric",
            "width": 12,
            "height": 6,
            "properties": {
                "title": "Stream lag (seconds, max)",
                "region": "${AWS::Region}",
                "metrics": [
                    Query("lag", namespace, "lag_seconds", own, "Maximum").widget(60, True)
                ],
            },
        },
    ]
    for alarm in alarm_list:
        widgets.append(
            {
                "type": "metric",
                "width": 8,
                "height": 6,
                "properties": {
                    "title": alarm.title,
                    "region": "${AWS::Region}",
                    "metrics": [
                        q.widget(alarm.period, q.id == alarm.returned) for q in alarm.queries
                    ],
                    "annotations": {"horizontal": [{"label": "alarm", "value": alarm.threshold}]},
                },
            }
        )
    return {"widgets": widgets}


def resources(stage: Stage) -> dict[str, Any]:
    """Alarms, topic, dashboard, log groups and the API Gateway logging role."""
    ops = stage.operations
    alarm_list = alarms(stage)
    result: dict[str, Any] = {
        ALARM_TOPIC: {
            "Type": "AWS::SNS::Topic",
            "Properties": {"TopicName": f"{stage.app_name}-{stage.name}-alarms"},
        },
        ALARM_SUBSCRIPTION: {
            "Type": "AWS::SNS::Subscription",
            "Condition": HAS_ALARM_EMAIL,
            "Properties": {
                "TopicArn": {"Ref": ALARM_TOPIC},
                "Protocol": "email",
                "Endpoint": {"Ref": ALARM_EMAIL},
            },
        },
        DASHBOARD: {
            "Type": "AWS::CloudWatch::Dashboard",
            "Properties": {
                "DashboardName": f"{stage.app_name}-{stage.name}",
                "DashboardBody": {"Fn::Sub": json.dumps(_dashboard(stage, alarm_list))},
            },
        },
        ACCESS_LOG_GROUP: {
            "Type": "AWS::Logs::LogGroup",
            "Properties": {
                "LogGroupName": f"/aws/apigateway/{stage.api_name}-access",
                "RetentionInDays": ops.log_retention_days,
            },
        },
        API_GATEWAY_LOG_ROLE: {
            "Type": "AWS::IAM::Role",
            # The account keeps pointing at this role after the stack is gone;
            # deleting it would break every API's logging in the region.
            "DeletionPolicy": "Retain",
            "UpdateReplacePolicy": "Retain",
            "Properties": {
                "AssumeRolePolicyDocument": {
                    "Version": "2012-10-17",
                    "Statement": [
                        {
                            "Effect": "Allow",
                            "Principal": {"Service": "apigateway.amazonaws.com"},
                            "Action": "sts:AssumeRole",
                        }
                    ],
                },
                "ManagedPolicyArns": [
                    {
                        "Fn::Sub": "arn:${AWS::Partition}:iam::aws:policy/service-role/"
                        "AmazonAPIGatewayPushToCloudWatchLogs"
                    }
                ],
            },
        },
        API_GATEWAY_ACCOUNT: {
            "Type": "AWS::ApiGateway::Account",
            "Properties": {"CloudWatchRoleArn": {"Fn::GetAtt": [API_GATEWAY_LOG_ROLE, "Arn"]}},
        },
    }
    for alarm in alarm_list:
        result[alarm.logical_id] = alarm.cloudformation(stage)
    for function in stage.functions:
        result[log_group_id(function)] = {
            "Type": "AWS::Logs::LogGroup",
            "Properties": {
                "LogGroupName": f"/aws/lambda/{stage.function_name(function)}",
                "RetentionInDays": ops.log_retention_days,
            },
        }
    return result


def api_stage_properties(stage: Stage) -> dict[str, Any]:
    """The API stage's access logs and limits (merged into Chalice's RestAPI)."""
    ops = stage.operations
    return {
        "Name": stage.api_name,
        # Without it SAM's deployment also creates a stage named "Stage":
        # reachable, untraced, unthrottled, unlogged.
        "OpenApiVersion": "2.0",
        "AccessLogSetting": {
            "DestinationArn": {"Fn::GetAtt": [ACCESS_LOG_GROUP, "Arn"]},
            "Format": ACCESS_LOG_FORMAT,
        },
        "MethodSettings": [
            {
                "ResourcePath": "/*",
                "HttpMethod": "*",
                "ThrottlingRateLimit": ops.api_rate_limit,
                "ThrottlingBurstLimit": ops.api_burst_limit,
                # Execution logs would hold request headers (tokens): off.
                "LoggingLevel": "OFF",
                "DataTraceEnabled": False,
                "MetricsEnabled": False,
            }
        ],
    }


CURSOR_KEY_GENERATION = "CursorKeyGeneration"


def template_sections() -> dict[str, Any]:
    """The stack's parameters (alarm e-mail, cursor key generation) and the
    condition of the e-mail subscription."""
    return {
        "Parameters": {
            CURSOR_KEY_GENERATION: {
                "Type": "String",
                "Default": "1",
                "Description": "Change it (2, 3, ...) after rotating the cursor secret: "
                "CloudFormation reads the secret only when it updates the API function.",
            },
            ALARM_EMAIL: {
                "Type": "String",
                "Default": "",
                "AllowedPattern": r"^$|^[^@\s]+@[^@\s]+$",
                "Description": "An e-mail address to subscribe to the alarms (optional; "
                "confirm the subscription from the mail SNS sends).",
            },
        },
        "Conditions": {HAS_ALARM_EMAIL: {"Fn::Not": [{"Fn::Equals": [{"Ref": ALARM_EMAIL}, ""]}]}},
    }
