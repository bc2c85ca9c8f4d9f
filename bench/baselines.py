"""The naive designs each figure is compared against, in one place.

- ``naive_handle``: the stream handler a user writes first: one transactional
  ADD per window per record, no coalescing, no exactly-once markers.
- ``scan_top``: top-k by scanning the counts table and sorting in Python.
- ``page_from_the_top``: a ranking page at some depth without a cursor: read the
  index from the top down past the page, then slice.
- ``bare_app``: a Chalice app whose routes make the same DynamoDB call as the
  service, without GraphQL, for the API overhead baseline.
- ``BARE_APP``: the cold start baseline, the ``app.py`` of a bare Chalice app
  that imports boto3 and makes one call; bench/shipped.py packages it with
  ``chalice package`` and the service's post-processing.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping, Sequence
from typing import TYPE_CHECKING, Any

from chalice.app import Chalice, Response

from chalicelib.stream.records import FavoriteEvent, parse_record

if TYPE_CHECKING:
    from mypy_boto3_dynamodb import DynamoDBClient


BARE_APP = """\
import boto3
from chalice import Chalice

app = Chalice(app_name="bare")
client = boto3.client("dynamodb")


@app.route("/bare")
def index():
    return {"tables": client.list_tables()["TableNames"]}
"""


def naive_handle(
    records: Sequence[Mapping[str, Any]], client: DynamoDBClient, counts_table: str
) -> int:
    """Apply each record on its own: one TransactWriteItems per (record, window)."""
    applied = 0
    for record in records:
        event = parse_record(record)
        if not isinstance(event, FavoriteEvent):
            continue
        for restaurant_id, bucket in event.count_keys():
            client.transact_write_items(
                TransactItems=[
                    {
                        "Update": {
                            "TableName": counts_table,
                            "Key": {"restaurant_id": {"S": restaurant_id}, "bucket": {"S": bucket}},
                            "UpdateExpression": "ADD favorite_count :delta",
                            "ExpressionAttributeValues": {":delta": {"N": str(event.delta)}},
                        }
                    }
                ]
            )
        applied += 1
    return applied


def scan_top(
    client: DynamoDBClient, counts_table: str, bucket: str, first: int
) -> list[tuple[str, int]]:
    """Read every item of the table and sort: what a top-k without an index costs."""
    pairs: list[tuple[str, int]] = []
    scan: dict[str, Any] = {"TableName": counts_table}
    while True:
        page = client.scan(**scan)
        for item in page.get("Items", []):
            if item["bucket"]["S"] == bucket and "favorite_count" in item:
                pairs.append((item["restaurant_id"]["S"], int(item["favorite_count"]["N"])))
        if "LastEvaluatedKey" not in page:
            break
        scan["ExclusiveStartKey"] = page["LastEvaluatedKey"]
    return sorted(pairs, key=lambda pair: (-pair[1], pair[0]))[:first]


def page_from_the_top(
    client: DynamoDBClient, counts_table: str, partition: str, depth: int, first: int
) -> list[tuple[str, int]]:
    """Rows ``depth + 1 .. depth + first`` of one ranking partition, read from its top
    (what paging by offset costs): every row above the page, the page, and the ties
    at its end, so the order by id is exact."""
    query: dict[str, Any] = {
        "TableName": counts_table,
        "IndexName": "by_count",
        "KeyConditionExpression": "rank_partition = :partition AND favorite_count > :zero",
        "ExpressionAttributeValues": {":partition": {"S": partition}, ":zero": {"N": "0"}},
        "ScanIndexForward": False,
    }
    pairs: list[tuple[str, int]] = []
    end = depth + first
    while True:
        # Down to one row past the page, then on in small steps through its ties.
        query["Limit"] = max(end + 1 - len(pairs), 100)
        response = client.query(**query)
        pairs.extend(
            (item["restaurant_id"]["S"], int(item["favorite_count"]["N"]))
            for item in response.get("Items", [])
        )
        past_the_ties = len(pairs) > end and pairs[-1][1] < pairs[end - 1][1]
        if "LastEvaluatedKey" not in response or past_the_ties:
            break
        query["ExclusiveStartKey"] = response["LastEvaluatedKey"]
    return sorted(pairs, key=lambda pair: (-pair[1], pair[0]))[depth:end]


def bare_app(
    client: Callable[[], DynamoDBClient], favorites_table: str, top: Callable[[], object]
) -> Chalice:
    """Two routes doing the service's DynamoDB calls with no GraphQL in between."""
    app = Chalice(app_name="bare")

    @app.route("/favorite/{restaurant_id}/{user_id}", methods=["POST"])
    def favorite(restaurant_id: str, user_id: str) -> Response:
        client().put_item(
            TableName=favorites_table,
            Item={
                "restaurant_id": {"S": restaurant_id},
                "user_id": {"S": user_id},
                "created_at": {"S": "2026-11-23T12:00:00.000Z"},
            },
            ConditionExpression="attribute_not_exists(restaurant_id)",
        )
        return Response(body=json.dumps({"changed": True}), status_code=200)

    @app.route("/top", methods=["GET"])
    def top_route() -> Response:
        return Response(body=json.dumps(str(top())), status_code=200)

    return app
