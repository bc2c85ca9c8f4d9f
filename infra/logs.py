"""Where the stack's logs go and how long they stay.

Every log group exists in the stack, with the stage's retention
(``infra.stages.Operations``), before anything writes to it: a group that
Lambda or API Gateway creates on first use never expires. The API stage writes
one JSON access log line per request, which needs the account's API Gateway
logging role.
"""

from __future__ import annotations

import json
from typing import Any

from infra.stages import Stage, camel

ACCESS_LOG_GROUP = "ApiAccessLogGroup"
# API Gateway writes logs through one role per account and region.
API_GATEWAY_ACCOUNT = "ApiGatewayAccount"
API_GATEWAY_LOG_ROLE = "ApiGatewayCloudWatchRole"

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


def log_group_id(function: str) -> str:
    """The logical id of a function's log group (its function depends on it)."""
    return camel(function) + "LogGroup"


def access_log_setting() -> dict[str, Any]:
    """The API stage's ``AccessLogSetting``."""
    return {
        "DestinationArn": {"Fn::GetAtt": [ACCESS_LOG_GROUP, "Arn"]},
        "Format": ACCESS_LOG_FORMAT,
    }


def _log_group(name: str, stage: Stage) -> dict[str, Any]:
    return {
        "Type": "AWS::Logs::LogGroup",
        "Properties": {
            "LogGroupName": name,
            "RetentionInDays": stage.operations.log_retention_days,
        },
    }


def resources(stage: Stage) -> dict[str, Any]:
    """The access log group, the account's API Gateway logging role, and each
    function's log group."""
    result: dict[str, Any] = {
        ACCESS_LOG_GROUP: _log_group(f"/aws/apigateway/{stage.api_name}-access", stage),
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
    for function in stage.functions:
        result[log_group_id(function)] = _log_group(
            f"/aws/lambda/{stage.function_name(function)}", stage
        )
    return result
