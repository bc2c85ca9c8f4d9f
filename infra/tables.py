"""Create the service's tables from ``tables.json``, the one definition of them.

The deployment template merges ``tables.json``; the local stack and the tests
call :func:`ensure_tables` so that every environment runs on the same key
schemas, indexes and stream settings.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

TEMPLATE = Path(__file__).with_name("tables.json")

# CloudFormation properties that CreateTable takes under the same name.
_CREATE_TABLE_KEYS = (
    "AttributeDefinitions",
    "KeySchema",
    "GlobalSecondaryIndexes",
    "LocalSecondaryIndexes",
    "BillingMode",
    "ProvisionedThroughput",
    "StreamSpecification",
)


@dataclass(frozen=True)
class TableNames:
    favorites: str
    counts: str
    # The API's persisted GraphQL documents; empty where nothing serves GraphQL.
    documents: str = ""

    def by_resource(self) -> dict[str, str]:
        names = {"FavoritesTable": self.favorites, "FavoriteCountsTable": self.counts}
        if self.documents:
            names["PersistedDocumentsTable"] = self.documents
        return names


@cache
def resources() -> dict[str, Any]:
    """The table resources of the template, by logical id."""
    template = json.loads(TEMPLATE.read_text())
    return {
        name: resource
        for name, resource in template["Resources"].items()
        if resource["Type"] == "AWS::DynamoDB::Table"
    }


def hash_key(logical_id: str) -> str:
    """The name of a table's HASH key attribute."""
    schema = resources()[logical_id]["Properties"]["KeySchema"]
    return str(next(key["AttributeName"] for key in schema if key["KeyType"] == "HASH"))


def create_table_request(logical_id: str, table_name: str) -> dict[str, Any]:
    """The CreateTable arguments for one table of the template."""
    properties = resources()[logical_id]["Properties"]
    request: dict[str, Any] = {"TableName": table_name}
    for key in _CREATE_TABLE_KEYS:
        if key in properties:
            request[key] = properties[key]
    if "StreamSpecification" in request:
        request["StreamSpecification"] = {"StreamEnabled": True, **request["StreamSpecification"]}
    return request


def ensure_tables(client: Any, names: TableNames) -> list[str]:
    """Create whichever tables are missing and wait for them; return the created names."""
    existing = set(client.list_tables()["TableNames"])
    created = []
    for logical_id, table_name in names.by_resource().items():
        if table_name in existing:
            continue
        client.create_table(**create_table_request(logical_id, table_name))
        client.get_waiter("table_exists").wait(
            TableName=table_name, WaiterConfig={"Delay": 0.2, "MaxAttempts": 150}
        )
        ttl = resources()[logical_id]["Properties"].get("TimeToLiveSpecification")
        if ttl:
            client.update_time_to_live(TableName=table_name, TimeToLiveSpecification=ttl)
        created.append(table_name)
    return created


def stream_arn(client: Any, table_name: str) -> str:
    return str(client.describe_table(TableName=table_name)["Table"]["LatestStreamArn"])
