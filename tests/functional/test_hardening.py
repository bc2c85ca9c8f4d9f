"""Hostile HTTP and GraphQL input through Chalice's test client: each gets a clear error."""

from __future__ import annotations

import json
import logging
from typing import Any

import pytest

from local.tokens import token
from tests.support import SpanRecorder, error_codes, graphql

FAVORITE = "mutation F($id: ID!) { favorite(restaurantId: $id) { changed } }"
VIEWER_PAGE = """
query Mine($first: Int!, $after: String) {
  viewer { favorites(first: $first, after: $after) {
    edges { node { id } } pageInfo { endCursor } } }
}
"""
JSON = {"Content-Type": "application/json"}
# A number past Python's int-string conversion limit (4300 digits), in a ~5 KB body.
HUGE_NUMBER = "9" * 5_000
TOP_FIRST = "query Q($n: Int!) { topRestaurants(first: $n) { edges { rank } } }"


def post(client, body: bytes, headers: dict[str, str] | None = None, path="/public/graphql"):
    response = client.http.post(path, headers=JSON if headers is None else headers, body=body)
    return response.status_code, json.loads(response.body)


@pytest.mark.parametrize(
    ("body", "headers", "status", "message"),
    [
        (b"", JSON, 400, "request body is empty"),
        (b"{not json", JSON, 400, "Unable to parse request body as JSON"),
        (b'{"query": "\xff\xfe"}', JSON, 400, "not valid UTF-8"),
        (b"42", JSON, 400, "expected a JSON object"),
        (b"null", JSON, 400, "expected a JSON object"),
        (b'"{ viewer { id } }"', JSON, 400, "expected a JSON object"),
        (b"[1, 2]", JSON, 400, "expected a JSON object"),
        (b'[{"query": "{ viewer { id } }"}]', JSON, 400, "Batching is not enabled"),
        (b"[" * 100_000, JSON, 413, "the limit is 16384"),
        (b"[" * 5_000 + b"]" * 5_000, JSON, 400, "nested too deeply"),
        (b'{"query": "{ viewer { id } }"}', {}, 400, "Unsupported content type"),
        (b'{"query": 5}', JSON, 400, "`query` must be a string"),
        (b'{"query": "{ viewer { id } }", "variables": [1]}', JSON, 400, "`variables` must be"),
        (b"{}", JSON, 400, "No GraphQL query found"),
        (b'{"query": "{ viewer { id } }", "operationName": 5}', JSON, 400, "Unknown operation"),
        (
            b'{"query": "%s", "variables": {"n": %s}}' % (TOP_FIRST.encode(), HUGE_NUMBER.encode()),
            JSON,
            400,
            "a JSON number has 5000 digits; at most 100 are accepted",
        ),
        (
            b'{"query": "{ viewer { id } }", "n": -%s}' % HUGE_NUMBER.encode(),
            JSON,
            400,
            "5000 digits",
        ),
    ],
)
def test_broken_http_requests_get_a_4xx_with_a_readable_json_message(
    client, body, headers, status, message
):
    got_status, answer = post(client, body, headers)
    assert got_status == status
    [error] = answer["errors"]
    assert message in error["message"]
    assert error["extensions"]["code"] in ("BAD_REQUEST", "PAYLOAD_TOO_LARGE")


@pytest.mark.parametrize(
    ("query_string", "message"),
    [
        ("query=%7Bviewer%7Bid%7D%7D&variables=%7Bnope", "Unable to parse request body as JSON"),
        ("query=%7Bviewer%7Bid%7D%7D&variables=5", "expected a JSON object"),
        ("query=%7Bviewer%7Bid%7D%7D&variables=%5B%7B%7D%5D", "`variables` must be"),
        ("variables=%7B%7D", "No GraphQL query found"),
        (f"query=%7Bviewer%7Bid%7D%7D&variables=%7B%22n%22:{HUGE_NUMBER}%7D", "5000 digits"),
    ],
)
def test_broken_get_requests_get_a_4xx_with_a_readable_json_message(client, query_string, message):
    response = client.http.get(f"/public/graphql?{query_string}")
    assert response.status_code == 400
    [error] = json.loads(response.body)["errors"]
    assert message in error["message"]
    assert error["extensions"]["code"] == "BAD_REQUEST"


def test_a_deployed_stage_without_cursor_secret_warns(serve, caplog):
    services = serve(STAGE="dev")
    with caplog.at_level(logging.WARNING, logger="chalicelib.services"):
        services.favorites()
    assert "CURSOR_SECRET is not set for stage dev" in caplog.text
    caplog.clear()
    services = serve(STAGE="dev", CURSOR_SECRET="a-real-secret")
    with caplog.at_level(logging.WARNING, logger="chalicelib.services"):
        services.favorites()
    assert caplog.text == ""


def test_a_wrong_content_type_is_refused_by_chalice_with_415(client):
    response = client.http.post(
        "/public/graphql", headers={"Content-Type": "text/plain"}, body=b"{ viewer { id } }"
    )
    assert response.status_code == 415
    assert "Unsupported media type" in json.loads(response.body)["Message"]


def test_mutations_over_get_are_refused(client, dynamodb):
    response = client.http.get(
        "/public/graphql?query=mutation%7Bfavorite(restaurantId:%22r1%22)%7Bchanged%7D%7D",
        headers={"Authorization": token("alice")},
    )
    assert response.status_code == 405
    assert response.headers["Allow"] == "POST"
    assert "mutations are not allowed" in json.loads(response.body)["errors"][0]["message"]
    assert dynamodb.scan(TableName="favorites-test")["Items"] == []


def test_batches_are_capped_when_batching_is_configured(client, serve):
    serve(GRAPHQL_MAX_BATCH_OPERATIONS="2")
    one = {"query": "{ topRestaurants { edges { rank } } }"}
    status, answer = post(client, json.dumps([one, one]).encode())
    assert status == 200
    assert answer == [{"data": {"topRestaurants": {"edges": []}}}] * 2
    status, answer = post(client, json.dumps([one, one, one]).encode())
    assert status == 400
    assert answer["errors"][0]["message"] == "Too many operations"


def test_query_depth_is_limited(client, serve):
    deep = "{ viewer { favorites { edges { node { id } } } } }"
    assert "errors" not in graphql(client, deep, user="alice")
    serve(GRAPHQL_MAX_DEPTH="2")
    result = graphql(client, deep, user="alice")
    assert result["data"] is None
    assert "exceeds maximum operation depth of 2" in result["errors"][0]["message"]
    assert error_codes(result) == ["GRAPHQL_VALIDATION_FAILED"]


def test_aliases_are_limited(client):
    fifteen = (
        "{" + " ".join(f"a{i}: topRestaurants {{ edges {{ rank }} }}" for i in range(15)) + "}"
    )
    assert "errors" not in graphql(client, fifteen, public=True)
    sixteen = (
        "{" + " ".join(f"a{i}: topRestaurants {{ edges {{ rank }} }}" for i in range(16)) + "}"
    )
    result = graphql(client, sixteen, public=True)
    assert result["data"] is None
    assert result["errors"][0]["message"] == "16 aliases found. Allowed: 15"
    assert error_codes(result) == ["GRAPHQL_VALIDATION_FAILED"]


def test_tokens_are_limited_before_parsing_finishes(client):
    bomb = "{" + " topRestaurants { edges { rank } }" * 300 + "}"
    result = graphql(client, bomb, public=True)
    assert "more than 1000 tokens" in result["errors"][0]["message"]
    assert error_codes(result) == ["GRAPHQL_PARSE_FAILED"]


def test_graphql_syntax_and_validation_errors_have_codes(client):
    assert error_codes(graphql(client, "{ viewer {", public=True)) == ["GRAPHQL_PARSE_FAILED"]
    result = graphql(client, "{ viewr { id } }", public=True)
    assert error_codes(result) == ["GRAPHQL_VALIDATION_FAILED"]
    # Outside prod the hint stays: it helps developers.
    assert "Did you mean 'viewer'?" in result["errors"][0]["message"]


def test_prod_has_no_introspection_graphiql_or_suggestions(client, serve):
    serve(STAGE="prod")
    introspection = graphql(client, "{ __schema { types { name } } }", public=True)
    assert "introspection has been disabled" in introspection["errors"][0]["message"]
    for query in [
        "{ viewr { id } }",
        "{ topRestaurants(frist: 1) { edges { rank } } }",
        "{ topRestaurants(window: ALL) { edges { rank } } }",
        "{ topRestaurants { edges { rnak } } }",
    ]:
        result = graphql(client, query, public=True)
        assert error_codes(result) == ["GRAPHQL_VALIDATION_FAILED"], query
        assert "Did you mean" not in json.dumps(result), query
    ide = client.http.get("/public/graphql", headers={"Accept": "text/html"})
    assert ide.status_code == 404
    assert "GraphiQL" not in ide.body.decode()


def test_graphiql_is_served_outside_prod(client):
    ide = client.http.get("/public/graphql", headers={"Accept": "text/html"})
    assert ide.status_code == 200
    assert "graphiql" in ide.body.decode().lower()


def test_unexpected_errors_are_masked_with_a_request_id_also_logged_and_traced(
    client, serve, monkeypatch, caplog
):
    def broken(*args: Any, **kwargs: Any) -> Any:
        raise RuntimeError("secret table detail")

    recorder = SpanRecorder()
    monkeypatch.setattr(serve(tracer=recorder).rankings(), "top_page", broken)
    spans = recorder.spans
    with caplog.at_level(logging.INFO):
        result = graphql(client, "{ topRestaurants { edges { rank } } }", public=True)
    [error] = result["errors"]
    assert error["message"] == "Internal server error."
    assert error["extensions"]["code"] == "INTERNAL_SERVER_ERROR"
    request_id = error["extensions"]["requestId"]
    assert len(request_id) >= 16
    assert "secret" not in json.dumps(result)
    [logged] = [r for r in caplog.records if r.levelno == logging.ERROR]
    assert request_id in logged.getMessage()
    assert "secret table detail" in str(logged.exc_info[1])
    [span] = [s for s in spans if s["name"] == "graphql"]
    assert span["request_id"] == request_id
    assert span["errors"] == 1


def test_api_gateways_request_id_is_the_one_reported():
    from chalice.app import Request

    from chalicelib.api.view import request_id

    event = {
        "requestContext": {
            "requestId": "c6af9ac6-7b61-11e6-9a41-93e8deadbeef",
            "httpMethod": "POST",
            "resourcePath": "/graphql",
        },
        "headers": {},
        "multiValueQueryStringParameters": None,
        "pathParameters": None,
        "httpMethod": "POST",
        "stageVariables": None,
        "body": None,
        "isBase64Encoded": False,
    }
    assert request_id(Request(event)) == "c6af9ac6-7b61-11e6-9a41-93e8deadbeef"


def test_failures_outside_graphql_are_a_json_500_with_a_request_id(
    client, serve, monkeypatch, caplog
):
    def broken() -> Any:
        raise RuntimeError("cannot reach the table")

    recorder = SpanRecorder()
    monkeypatch.setattr(serve(tracer=recorder), "favorites", broken)
    spans = recorder.spans
    with caplog.at_level(logging.ERROR):
        response = client.http.post(
            "/public/graphql", headers=JSON, body=b'{"query": "{ viewer { id } }"}'
        )
    assert response.status_code == 500
    [error] = json.loads(response.body)["errors"]
    assert error["extensions"]["code"] == "INTERNAL_SERVER_ERROR"
    assert error["extensions"]["requestId"] in caplog.text
    assert spans == [
        {"name": "graphql_http", "request_id": error["extensions"]["requestId"], "failed": True}
    ]
    assert "cannot reach" not in response.body.decode()


def test_a_cursor_from_another_users_connection_or_edited_is_bad_user_input(client):
    for restaurant in ["r1", "r2", "r3"]:
        graphql(client, FAVORITE, {"id": restaurant}, user="alice")
        graphql(client, FAVORITE, {"id": restaurant}, user="bob")
    page = graphql(client, VIEWER_PAGE, {"first": 1}, user="alice")
    cursor = page["data"]["viewer"]["favorites"]["pageInfo"]["endCursor"]
    mine = graphql(client, VIEWER_PAGE, {"first": 5, "after": cursor}, user="alice")
    assert len(mine["data"]["viewer"]["favorites"]["edges"]) == 2
    body, tag = cursor.split(".")
    for stolen_or_edited in [cursor, f"{body}x.{tag}", f"{body}.{tag[::-1]}", body]:
        user = "bob" if stolen_or_edited == cursor else "alice"
        result = graphql(client, VIEWER_PAGE, {"first": 5, "after": stolen_or_edited}, user=user)
        assert error_codes(result) == ["BAD_USER_INPUT"]
        assert result["errors"][0]["message"] == "after is not a cursor this API returned to you"


def test_first_is_capped_at_100_on_every_list(client):
    for query in [
        "{ topRestaurants(first: 101) { edges { rank } } }",
        "{ viewer { favorites(first: 101) { pageInfo { endCursor } } } }",
        "{ topRestaurants(first: -1) { edges { rank } } }",
        "{ viewer { favorites(first: 0) { pageInfo { endCursor } } } }",
    ]:
        result = graphql(client, query, user="alice")
        assert error_codes(result) == ["BAD_USER_INPUT"], query
        assert "between 1 and 100" in result["errors"][0]["message"]


def test_over_long_int_literals_are_validation_errors_not_internal(client, caplog):
    with caplog.at_level(logging.INFO):
        for query in [
            f"{{ topRestaurants(first: {HUGE_NUMBER}) {{ edges {{ rank }} }} }}",
            f"{{ topRestaurants(first: -{HUGE_NUMBER}) {{ edges {{ rank }} }} }}",
            f"query Q($n: Int! = {HUGE_NUMBER})"
            " { topRestaurants(first: $n) { edges { rank } } }",
            f"{{ viewer {{ favorites(first: {HUGE_NUMBER}) {{ pageInfo {{ endCursor }} }} }} }}",
        ]:
            result = graphql(client, query, user="alice")
            assert result["data"] is None, query
            assert error_codes(result) == ["GRAPHQL_VALIDATION_FAILED"], query
            assert "integer literal has 5000 digits" in result["errors"][0]["message"]
        # Out of 32-bit range but convertible: graphql-core's own validation error.
        result = graphql(client, f"{{ topRestaurants(first: {'9' * 100}) {{ edges {{ rank }} }} }}")
        assert error_codes(result) == ["GRAPHQL_VALIDATION_FAILED"]
        assert "non 32-bit signed integer" in result["errors"][0]["message"]
        # An ID takes the digits as text, so the id rule answers.
        result = graphql(client, f"{{ restaurant(id: {HUGE_NUMBER}) {{ id }} }}", public=True)
        assert error_codes(result) == ["BAD_USER_INPUT"]
    assert not [record for record in caplog.records if record.levelno >= logging.ERROR]
