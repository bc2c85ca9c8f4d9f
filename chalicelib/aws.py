"""boto3 clients, as one ``Settings`` value says: region, endpoint, timeouts, retries.

Nothing here runs at import time, and nothing is kept: the composition object
(``chalicelib.services``) builds its client once, on first use; the local
stack and the tests build theirs from their own settings (moto, DynamoDB Local).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, cast

import boto3
from botocore.config import Config

from chalicelib.settings import Settings

if TYPE_CHECKING:
    from mypy_boto3_dynamodb import DynamoDBClient
    from mypy_boto3_dynamodbstreams import DynamoDBStreamsClient

# The services whose SDK models the deployed functions load: `make package`
# ships these only. xray: importing the X-Ray SDK (chalicelib/tracing/) builds
# a client for its sampling rules. DynamoDB Streams is read by the local stack
# and the tests (dynamodb_streams below), never by a function.
DEPLOYED_SERVICES = ("dynamodb", "xray")

# Per-call limits; infra/template.py sizes the stream handler's timeout from them.
CONNECT_TIMEOUT_SECONDS = 2
READ_TIMEOUT_SECONDS = 5
MAX_ATTEMPTS = 4


def client_args(settings: Settings) -> dict[str, Any]:
    args: dict[str, Any] = {
        # A local endpoint needs some region; elsewhere None lets boto3 resolve it.
        "region_name": settings.region or ("us-east-1" if settings.dynamodb_endpoint_url else None),
        # Standard retries cover throttling and 5xx; our own backoff sits on top
        # for cancelled transactions, which botocore does not retry.
        "config": Config(
            retries={"mode": "standard", "max_attempts": MAX_ATTEMPTS},
            connect_timeout=CONNECT_TIMEOUT_SECONDS,
            read_timeout=READ_TIMEOUT_SECONDS,
            max_pool_connections=32,
        ),
    }
    if settings.dynamodb_endpoint_url:
        args["endpoint_url"] = settings.dynamodb_endpoint_url
        # DynamoDB Local accepts any credentials but boto3 insists on some.
        args["aws_access_key_id"] = "local"
        args["aws_secret_access_key"] = "local"
    return args


def dynamodb(settings: Settings) -> DynamoDBClient:
    return cast("DynamoDBClient", boto3.client("dynamodb", **client_args(settings)))


def dynamodb_streams(settings: Settings) -> DynamoDBStreamsClient:
    return cast("DynamoDBStreamsClient", boto3.client("dynamodbstreams", **client_args(settings)))
