"""The merge template for ``chalice package --merge-template``, built per stage.

Chalice writes the functions, the API and the roles; this adds what Chalice
cannot express and points the functions at the stack's own resources:

- the two tables, copied from ``tables.json`` (their one definition) and named
  as the stage's ``config.json`` names them;
- the Cognito User Pool the authorizer trusts, and an app client to sign in with;
- an SQS queue that receives the stream batches Lambda gives up on;
- the erasure queue an account service sends ``{"user_id": ...}`` to, its
  dead-letter queue, and a queue policy that lets only the ``ErasureSenderArn``
  role send to it;
- the stream event source settings: the stream ARN from the table, filters for
  INSERT/REMOVE on the ``dynamodb`` key only, partial-batch responses,
  bisection, retry and age limits, and the on-failure destination;
- environment variables that reference the stack's tables, stream and pool;
- the API function's ``CURSOR_SECRET``: a Secrets Manager secret generated in
  the stack, resolved by CloudFormation (a dynamic reference), so the value is
  in no file and the function needs no permission to read it;
- each function's own IAM policy with its ``*`` region/account narrowed to the
  stack's;
- X-Ray tracing on the API Gateway stage (the functions get it from ``"xray"``);
- what lets operators see it run: alarms to an SNS topic (``infra/alarms.py``),
  a dashboard (``infra/dashboard.py``), log groups with a retention and JSON
  access logs (``infra/logs.py``), the stage's throttling, and one API stage only;
- the edge (``infra/edge.py``): a CloudFront distribution that caches public
  GraphQL GETs as the API's ``Cache-Control`` allows, a stage option;
- the stack's parameters: an address to subscribe to the alarms, the
  generation of the cursor key, and whether the edge exists.

The keys below must match what Chalice generates (logical ids such as
``AggregateFavoritesDynamodbEventSource``); the package tests fail if one drifts.
"""

from __future__ import annotations

import copy
import json
import math
import re
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from chalicelib import aws
from chalicelib.stream.plan import plan_chunks
from chalicelib.stream.records import FavoriteEvent
from infra import alarms, dashboard, edge, logs, recount, tables
from infra.stages import API_HANDLER, Stage

# Logical ids Chalice gives the resources of this app.
API_FUNCTION = "APIHandler"
STREAM_FUNCTION = "AggregateFavorites"
RECONCILE_FUNCTION = "ReconcileCounts"
STREAM_EVENT_SOURCE = "AggregateFavoritesDynamodbEventSource"
RECONCILE_EVENT = "ReconcileCountsEvent"
ERASE_FUNCTION = "EraseFavorites"
ERASE_EVENT_SOURCE = "EraseFavoritesSqsEventSource"
# Chalice's function name -> the logical ids of that function and of its role.
# Every function has its own role and policy file, so each gets only its calls.
FUNCTIONS = {
    API_HANDLER: (API_FUNCTION, "ApiHandlerRole"),
    "aggregate_favorites": (STREAM_FUNCTION, "AggregateFavoritesRole"),
    "reconcile_counts": (RECONCILE_FUNCTION, "ReconcileCountsRole"),
    "erase_favorites": (ERASE_FUNCTION, "EraseFavoritesRole"),
}
ROLES = tuple(role for _, role in FUNCTIONS.values())
REST_API = "RestAPI"
AUTHORIZER = "FavoritesUserPool"  # the name app.py gives the CognitoUserPoolAuthorizer

USER_POOL = "UserPool"
USER_POOL_CLIENT = "UserPoolClient"
FAILURE_QUEUE = "StreamFailureQueue"
CURSOR_SECRET = "CursorSecret"
ERASURE_QUEUE = "ErasureQueue"
ERASURE_DEAD_LETTERS = "ErasureDeadLetterQueue"
ERASURE_QUEUE_POLICY = "ErasureQueuePolicy"

# Stack parameters, and the condition the e-mail one sets.
CURSOR_KEY_GENERATION = "CursorKeyGeneration"
ALARM_EMAIL = "AlarmEmail"  # an address to subscribe, or empty
HAS_ALARM_EMAIL = "HasAlarmEmail"
ERASURE_SENDER = "ErasureSenderArn"  # the account service's role, or empty: nobody
HAS_ERASURE_SENDER = "HasErasureSender"

# The handler makes progress record by record (batchItemFailures), so retries
# only repeat what failed; after this many, or once records are this old, the
# batch's shard and sequence range go to the queue and reconciliation repairs
# the counts. Stream records live 24 h; 6 h leaves time to look before they go.
MAXIMUM_RETRY_ATTEMPTS = 20
MAXIMUM_RECORD_AGE_SECONDS = 6 * 3600


def _image_filter(present: str, absent: str) -> dict[str, Any]:
    """Records whose ``present`` image holds the table's hash key and whose
    ``absent`` image does not. ``exists`` only applies to leaf nodes, so it
    looks at the key attribute's ``S`` value inside each image."""
    key = tables.hash_key("FavoritesTable")
    return {
        "dynamodb": {
            present: {key: {"S": [{"exists": True}]}},
            absent: {key: {"S": [{"exists": False}]}},
        }
    }


# DynamoDB event source mappings filter on the `dynamodb` key only (Lambda's
# guide), so INSERT and REMOVE are told apart by their images: an INSERT has a
# new image and no old one, a REMOVE the reverse, a MODIFY both. Lambda ORs the
# filters of a mapping. The handler skips MODIFY itself too; this saves the
# invocations.
STREAM_FILTERS = (
    json.dumps(_image_filter("NewImage", "OldImage"), separators=(",", ":")),
    json.dumps(_image_filter("OldImage", "NewImage"), separators=(",", ":")),
)
# An erasure message is received at most this many times before it moves to the
# dead-letter queue: a malformed one fails every time; a well-formed one fails
# only if DynamoDB does, or Lambda throttles, or it runs out of time (then the
# next receive continues it, so this also bounds an erasure to this many runs).
ERASURE_MAX_RECEIVES = 5
# AWS's advice for a queue a function reads: a visibility timeout of at least
# six times the function's timeout, so a throttled or retried invocation does
# not see its message handed to another.
ERASURE_VISIBILITY_FACTOR = 6
SQS_MAX_RETENTION_SECONDS = 14 * 24 * 3600

# Margin for the cold start and the work around the writes.
STREAM_TIMEOUT_MARGIN_SECONDS = 10

_WILDCARD_ARN = re.compile(r"^arn:aws:([a-z0-9-]+):\*:\*:(.+)$")


def _get_att(resource: str, attribute: str) -> dict[str, list[str]]:
    return {"Fn::GetAtt": [resource, attribute]}


def _ref(resource: str) -> dict[str, str]:
    return {"Ref": resource}


def max_call_seconds() -> float:
    """The longest one DynamoDB call can take: every attempt timing out, plus
    botocore's standard-mode backoff between attempts (at most 2**n seconds)."""
    attempts = aws.MAX_ATTEMPTS
    per_attempt = aws.CONNECT_TIMEOUT_SECONDS + aws.READ_TIMEOUT_SECONDS
    backoff = sum(2**n for n in range(attempts - 1))
    return float(attempts * per_attempt + backoff)


def max_chunks_per_batch(batch_size: int) -> int:
    """Transactions a batch can need at worst: every record a new restaurant."""
    created = datetime(2026, 1, 1, tzinfo=UTC)
    events = [FavoriteEvent(str(n), str(n), f"r{n}", "u", created, 1) for n in range(batch_size)]
    return len(plan_chunks(events))


def stream_timeout_floor(batch_size: int, write_budget_seconds: float) -> int:
    """The stream handler's timeout must outlast its retry budget.

    ``CountsWriter`` retries for at most ``WRITE_BUDGET_SECONDS`` per batch
    (one budget shared by its chunks), and every chunk's call, the one started
    just before that deadline included, may still run its full course. A
    timeout shorter than this would cut a batch off mid-write (safe, thanks to
    the markers, but it wastes the whole batch's work).
    """
    calls = max_chunks_per_batch(batch_size) * max_call_seconds()
    seconds = calls + write_budget_seconds + STREAM_TIMEOUT_MARGIN_SECONDS
    return math.ceil(seconds)


def narrow_arn(resource: str) -> str | dict[str, str]:
    """``arn:aws:<service>:*:*:<rest>`` in the policy file -> this stack's partition,
    region and account. The file keeps ``*`` so that plain ``chalice deploy`` can
    use it in any account."""
    match = _WILDCARD_ARN.match(resource)
    if match is None:
        return resource
    service, rest = match.groups()
    account = "${AWS::Partition}:" + service + ":${AWS::Region}:${AWS::AccountId}"
    return {"Fn::Sub": f"arn:{account}:{rest}"}


def narrowed_policy(stage: Stage, function: str) -> dict[str, Any]:
    policy = stage.policy(function)
    for statement in policy["Statement"]:
        resources = statement["Resource"]
        if isinstance(resources, list):
            statement["Resource"] = [narrow_arn(resource) for resource in resources]
        else:
            statement["Resource"] = narrow_arn(resources)
    return policy


def table_resources(stage: Stage) -> dict[str, Any]:
    names = tables.TableNames(
        stage.favorites_table, stage.counts_table, stage.documents_table
    ).by_resource()
    resources = copy.deepcopy(tables.resources())
    for logical_id, resource in resources.items():
        # Named as config.json names them, so both deploy paths, the policy and
        # the dashboards agree on one name per stage.
        resource["Properties"]["TableName"] = names[logical_id]
    return resources


def _environment(**extra: Any) -> dict[str, Any]:
    # Merged over Chalice's variables: these now follow the stack's resources.
    return {
        "Environment": {
            "Variables": {
                "FAVORITES_TABLE": _ref("FavoritesTable"),
                "FAVORITE_COUNTS_TABLE": _ref("FavoriteCountsTable"),
                "PERSISTED_DOCUMENTS_TABLE": _ref("PersistedDocumentsTable"),
                "FAVORITES_STREAM_ARN": _get_att("FavoritesTable", "StreamArn"),
                "COGNITO_USER_POOL_ARN": _get_att(USER_POOL, "Arn"),
                **extra,
            }
        }
    }


def _cursor_secret() -> dict[str, Any]:
    # Resolved by CloudFormation at deploy time; the template holds only the reference.
    return {"Fn::Sub": "{{resolve:secretsmanager:${" + CURSOR_SECRET + "}:SecretString}}"}


def _function(
    stage: Stage, function: str, variables: dict[str, Any] | None = None, **properties: Any
) -> dict[str, Any]:
    return {
        # Its log group exists (with the stage's retention) before the first
        # invocation could make Lambda create one that never expires.
        "DependsOn": [logs.log_group_id(function)],
        "Properties": {
            "FunctionName": stage.function_name(function),
            **_environment(**(variables or {})),
            **properties,
        },
    }


def parameters() -> dict[str, Any]:
    """The stack's parameters (cursor key generation, alarm e-mail) and the
    condition of the e-mail subscription."""
    return {
        "Parameters": {
            CURSOR_KEY_GENERATION: {
                "Type": "String",
                "Default": "1",
                "Description": "Change it (2, 3, ...) after rotating the cursor secret: "
                "CloudFormation reads the secret only when it updates the API function.",
            },
            ERASURE_SENDER: {
                "Type": "String",
                "Default": "",
                "AllowedPattern": r"^$|^arn:aws[a-z-]*:iam::[0-9]{12}:role/[A-Za-z0-9+=,.@_/-]+$",
                "Description": "The IAM role (ARN) of the account service, the only "
                "principal that may send erasure requests to the erasure queue; empty: "
                "nobody (operators erase with python -m ops.erase).",
            },
            ALARM_EMAIL: {
                "Type": "String",
                "Default": "",
                "AllowedPattern": r"^$|^[^@\s]+@[^@\s]+$",
                "Description": "An e-mail address to subscribe to the alarms (optional; "
                "confirm the subscription from the mail SNS sends).",
            },
        },
        "Conditions": {
            HAS_ALARM_EMAIL: {"Fn::Not": [{"Fn::Equals": [_ref(ALARM_EMAIL), ""]}]},
            HAS_ERASURE_SENDER: {"Fn::Not": [{"Fn::Equals": [_ref(ERASURE_SENDER), ""]}]},
        },
    }


def erasure_resources(stage: Stage) -> dict[str, Any]:
    """The erasure queue, its dead-letter queue, and who may send to it.

    The policy allows ``sqs:SendMessage`` to the ``ErasureSenderArn`` role and
    denies it to every other principal, those of this account included (an
    identity policy granting ``sqs:*`` cannot override an explicit deny), so
    an erasure request comes from the account service or from nobody.
    """
    queue_arn = _get_att(ERASURE_QUEUE, "Arn")
    allow_sender = {
        "Sid": "AccountServiceSends",
        "Effect": "Allow",
        "Principal": {"AWS": _ref(ERASURE_SENDER)},
        "Action": "sqs:SendMessage",
        "Resource": queue_arn,
    }
    deny = {"Sid": "NobodyElseSends", "Effect": "Deny", "Principal": "*"}
    deny_others = {
        **deny,
        "Action": "sqs:SendMessage",
        "Resource": queue_arn,
        "Condition": {"ArnNotEquals": {"aws:PrincipalArn": _ref(ERASURE_SENDER)}},
    }
    deny_all = {**deny, "Action": "sqs:SendMessage", "Resource": queue_arn}
    return {
        ERASURE_DEAD_LETTERS: {
            "Type": "AWS::SQS::Queue",
            "Properties": {
                "QueueName": stage.erasure_dead_letter_queue_name,
                # The longest SQS keeps a message: time to see why and erase by hand.
                "MessageRetentionPeriod": SQS_MAX_RETENTION_SECONDS,
                "SqsManagedSseEnabled": True,
            },
        },
        ERASURE_QUEUE: {
            "Type": "AWS::SQS::Queue",
            "Properties": {
                "QueueName": stage.erasure_queue_name,
                "VisibilityTimeout": ERASURE_VISIBILITY_FACTOR * stage.timeout("erase_favorites"),
                "MessageRetentionPeriod": SQS_MAX_RETENTION_SECONDS,
                "SqsManagedSseEnabled": True,
                "RedrivePolicy": {
                    "deadLetterTargetArn": _get_att(ERASURE_DEAD_LETTERS, "Arn"),
                    "maxReceiveCount": ERASURE_MAX_RECEIVES,
                },
            },
        },
        ERASURE_QUEUE_POLICY: {
            "Type": "AWS::SQS::QueuePolicy",
            "Properties": {
                "Queues": [_ref(ERASURE_QUEUE)],
                "PolicyDocument": {
                    "Version": "2012-10-17",
                    "Statement": [
                        {"Fn::If": [HAS_ERASURE_SENDER, allow_sender, {"Ref": "AWS::NoValue"}]},
                        {"Fn::If": [HAS_ERASURE_SENDER, deny_others, deny_all]},
                    ],
                },
            },
        },
    }


def api_stage_properties(stage: Stage) -> dict[str, Any]:
    """The API stage's access logs and limits (merged into Chalice's RestAPI)."""
    ops = stage.operations
    return {
        "Name": stage.api_name,
        # Without it SAM's deployment also creates a stage named "Stage":
        # reachable, untraced, unthrottled, unlogged.
        "OpenApiVersion": "2.0",
        "AccessLogSetting": logs.access_log_setting(),
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


def merge_template(stage: Stage) -> dict[str, Any]:
    resources: dict[str, Any] = {
        **table_resources(stage),
        USER_POOL: {
            "Type": "AWS::Cognito::UserPool",
            # Accounts are user data: keep them if the stack goes.
            "DeletionPolicy": "Retain",
            "UpdateReplacePolicy": "Retain",
            "Properties": {
                "UserPoolName": f"{stage.app_name}-{stage.name}-users",
                "UsernameAttributes": ["email"],
                "AutoVerifiedAttributes": ["email"],
                "Policies": {
                    "PasswordPolicy": {
                        "MinimumLength": 12,
                        "RequireLowercase": True,
                        "RequireUppercase": True,
                        "RequireNumbers": True,
                        "RequireSymbols": False,
                    }
                },
                "AccountRecoverySetting": {
                    "RecoveryMechanisms": [{"Name": "verified_email", "Priority": 1}]
                },
            },
        },
        USER_POOL_CLIENT: {
            "Type": "AWS::Cognito::UserPoolClient",
            "Properties": {
                "UserPoolId": _ref(USER_POOL),
                "ClientName": f"{stage.app_name}-{stage.name}-app",
                # A public (mobile/web) client: no secret it could not keep.
                "GenerateSecret": False,
                "ExplicitAuthFlows": [
                    "ALLOW_USER_SRP_AUTH",
                    "ALLOW_USER_PASSWORD_AUTH",
                    "ALLOW_REFRESH_TOKEN_AUTH",
                ],
                "PreventUserExistenceErrors": "ENABLED",
            },
        },
        FAILURE_QUEUE: {
            "Type": "AWS::SQS::Queue",
            "Properties": {
                "QueueName": stage.failure_queue_name,
                # The longest SQS keeps a message: time to investigate and replay.
                "MessageRetentionPeriod": 14 * 24 * 3600,
                "SqsManagedSseEnabled": True,
            },
        },
        CURSOR_SECRET: {
            "Type": "AWS::SecretsManager::Secret",
            "Properties": {
                "Description": f"{stage.app_name}-{stage.name}: HMAC key of pagination cursors",
                "GenerateSecretString": {"PasswordLength": 64, "ExcludePunctuation": True},
            },
        },
        # Only the API signs cursors; the other functions never see the key.
        API_FUNCTION: _function(
            stage,
            API_HANDLER,
            {"CURSOR_SECRET": _cursor_secret()},
            # CloudFormation resolves the secret only when it updates this
            # function; a new generation changes it, so a rotated key is read.
            Description={
                "Fn::Sub": f"{stage.app_name}-{stage.name} GraphQL API "
                "(cursor key generation ${" + CURSOR_KEY_GENERATION + "})"
            },
        ),
        RECONCILE_FUNCTION: _function(stage, "reconcile_counts"),
        **erasure_resources(stage),
        ERASE_FUNCTION: _function(
            stage,
            "erase_favorites",
            Events={
                ERASE_EVENT_SOURCE: {
                    "Properties": {
                        # The stack's own queue. Chalice writes an Fn::Sub of the
                        # queue's name here; merging replaces the string it substitutes.
                        "Queue": {"Fn::Sub": "${" + ERASURE_QUEUE + ".Arn}"},
                        # An erasure that runs out of time, or a malformed
                        # message, is reported failed and received again.
                        "FunctionResponseTypes": ["ReportBatchItemFailures"],
                    }
                }
            },
        ),
        STREAM_FUNCTION: _function(
            stage,
            "aggregate_favorites",
            Events={
                STREAM_EVENT_SOURCE: {
                    "Properties": {
                        "Stream": _get_att("FavoritesTable", "StreamArn"),
                        "FilterCriteria": {"Filters": [{"Pattern": p} for p in STREAM_FILTERS]},
                        "FunctionResponseTypes": ["ReportBatchItemFailures"],
                        "BisectBatchOnFunctionError": True,
                        "MaximumRetryAttempts": MAXIMUM_RETRY_ATTEMPTS,
                        "MaximumRecordAgeInSeconds": MAXIMUM_RECORD_AGE_SECONDS,
                        "DestinationConfig": {
                            "OnFailure": {
                                "Type": "SQS",
                                "Destination": _get_att(FAILURE_QUEUE, "Arn"),
                            }
                        },
                    }
                }
            },
        ),
        **alarms.resources(stage, email=_ref(ALARM_EMAIL), email_condition=HAS_ALARM_EMAIL),
        **dashboard.resources(stage),
        **logs.resources(stage),
        **edge.resources(stage, REST_API),
        **recount.resources(stage),
        REST_API: {
            # API Gateway can write access logs once the account has its role.
            "DependsOn": [logs.API_GATEWAY_ACCOUNT],
            "Properties": {
                "TracingEnabled": True,
                "EndpointConfiguration": edge.endpoint_configuration(),
                **api_stage_properties(stage),
                "DefinitionBody": {
                    # The API's name, whichever of the two API Gateway reads.
                    "info": {"title": stage.api_name},
                    "securityDefinitions": {
                        AUTHORIZER: {
                            "x-amazon-apigateway-authorizer": {
                                "providerARNs": [_get_att(USER_POOL, "Arn")]
                            }
                        }
                    },
                },
            },
        },
    }
    for function, (_, role) in FUNCTIONS.items():
        policy = narrowed_policy(stage, function)
        resources[role] = {
            "Properties": {"Policies": [{"PolicyName": f"{role}Policy", "PolicyDocument": policy}]}
        }
    edge_parameters = edge.parameters(stage)
    stack_parameters = parameters()
    return {
        "Parameters": {**stack_parameters["Parameters"], **edge_parameters["Parameters"]},
        "Conditions": {**stack_parameters["Conditions"], **edge_parameters["Conditions"]},
        "Resources": resources,
        "Outputs": {
            "AlarmTopicArn": {"Value": _ref(alarms.ALARM_TOPIC)},
            "DashboardName": {"Value": _ref(dashboard.DASHBOARD)},
            "UserPoolId": {"Value": _ref(USER_POOL)},
            "UserPoolClientId": {"Value": _ref(USER_POOL_CLIENT)},
            "FavoritesTableName": {"Value": _ref("FavoritesTable")},
            "FavoriteCountsTableName": {"Value": _ref("FavoriteCountsTable")},
            "FavoritesStreamArn": {"Value": _get_att("FavoritesTable", "StreamArn")},
            "StreamFailureQueueUrl": {"Value": _ref(FAILURE_QUEUE)},
            **edge.outputs(),
            **recount.outputs(),
            "ErasureQueueUrl": {"Value": _ref(ERASURE_QUEUE)},
            "ErasureQueueArn": {"Value": _get_att(ERASURE_QUEUE, "Arn")},
            "ErasureDeadLetterQueueUrl": {"Value": _ref(ERASURE_DEAD_LETTERS)},
        },
    }


def write_merge_template(stage: Stage, path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(merge_template(stage), indent=2) + "\n")
    return path
