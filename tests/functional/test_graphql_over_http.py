"""GraphQL over HTTP: the media type follows Accept, and so do the status codes.

``application/graphql-response+json`` gets the specification's status codes (a
request refused before execution is a 4xx without ``data``); ``application/json``
keeps 200 for everything GraphQL itself reports.
"""

from __future__ import annotations

import json
import logging
from typing import Any

import pytest

from local.tokens import token

GRAPHQL_RESPONSE = "application/graphql-response+json"
GRAPHQL_RESPONSE_TYPE = "application/graphql-response+json; charset=utf-8"


def call(
    client: Any,
    body: dict[str, Any] | bytes,
    accept: str | None = GRAPHQL_RESPONSE,
    *,
    path: str = "/public/graphql",
    user: str | None = None,
) -> tuple[int, dict[str, str], Any]:
    headers = {"Content-Type": "application/json"}
    if accept is not None:
        headers["Accept"] = accept
    if user is not None:
        headers["Authorization"] = token(user)
    raw = body if isinstance(body, bytes) else json.dumps(body).encode()
    response = client.http.post(path, headers=headers, body=raw)
    return response.status_code, response.headers, json.loads(response.body)


def codes(answer: dict[str, Any]) -> list[str]:
    return [error["extensions"]["code"] for error in answer["errors"]]


def test_a_successful_query_is_200_in_the_media_type_asked_for(client):
    status, headers, answer = call(client, {"query": "{ topRestaurants { edges { rank } } }"})
    assert (status, headers["Content-Type"]) == (200, GRAPHQL_RESPONSE_TYPE)
    # Origin too: the test stage lists browser origins (tests/conftest.py).
    assert headers["Vary"] == "Accept, Origin"
    assert answer == {"data": {"topRestaurants": {"edges": []}}}


@pytest.mark.parametrize(
    ("query", "variables", "code"),
    [
        ("{ topRestaurants { edges { rank } }", None, "GRAPHQL_PARSE_FAILED"),
        ("{ viewr { id } }", None, "GRAPHQL_VALIDATION_FAILED"),
        ("query Q($n: Int!) { topRestaurants(first: $n) { edges { rank } } }", {"n": None}, None),
        ("query Q($n: Int!) { topRestaurants(first: $n) { edges { rank } } }", {"n": "ten"}, None),
        ("query Q($n: Int!) { topRestaurants(first: 5) { edges { rank } } }", None, None),
    ],
)
def test_a_document_that_fails_to_parse_validate_or_coerce_is_a_400_without_data(
    client, query, variables, code
):
    status, headers, answer = call(client, {"query": query, "variables": variables})
    assert (status, headers["Content-Type"]) == (400, GRAPHQL_RESPONSE_TYPE)
    assert "data" not in answer
    assert answer["errors"]
    if code:
        assert codes(answer) == [code]
    assert set(codes(answer)) <= {"GRAPHQL_PARSE_FAILED", "GRAPHQL_VALIDATION_FAILED"}


def test_the_query_limits_are_400s_without_data(client):
    aliases = (
        "{" + " ".join(f"a{i}: topRestaurants {{ edges {{ rank }} }}" for i in range(16)) + "}"
    )
    tokens = "{" + " topRestaurants { edges { rank } }" * 300 + "}"
    for query, code in [(aliases, "GRAPHQL_VALIDATION_FAILED"), (tokens, "GRAPHQL_PARSE_FAILED")]:
        status, _, answer = call(client, {"query": query})
        assert status == 400
        assert "data" not in answer
        assert codes(answer) == [code]


def test_several_operations_without_an_operation_name_are_a_request_error(client):
    two = (
        "query A { topRestaurants { edges { rank } } }"
        " query B { topRestaurants { edges { rank } } }"
    )
    status, _, answer = call(client, {"query": two})
    assert status == 400
    assert "data" not in answer
    assert "operation name" in answer["errors"][0]["message"]
    assert codes(answer) == ["GRAPHQL_VALIDATION_FAILED"]
    # Named, it runs; and once cached, the document is refused the same way again.
    status, _, answer = call(client, {"query": two, "operationName": "B"})
    assert (status, answer) == (200, {"data": {"topRestaurants": {"edges": []}}})
    status, _, answer = call(client, {"query": two})
    assert status == 400


def test_the_same_failures_stay_200_with_data_null_for_application_json(client):
    for accept in ["application/json", None, "*/*"]:
        status, headers, answer = call(client, {"query": "{ viewr { id } }"}, accept)
        assert (status, headers["Content-Type"]) == (200, "application/json"), accept
        assert answer["data"] is None
        assert codes(answer) == ["GRAPHQL_VALIDATION_FAILED"]


def test_field_errors_are_200_with_data_in_either_media_type(client):
    # BAD_USER_INPUT and UNAUTHENTICATED come from resolvers: the operation ran.
    bad_input = {"query": "{ topRestaurants(first: 1000) { edges { rank } } }"}
    unauthenticated = {"query": 'mutation { favorite(restaurantId: "r1") { changed } }'}
    for body, code in [(bad_input, "BAD_USER_INPUT"), (unauthenticated, "UNAUTHENTICATED")]:
        for accept in [GRAPHQL_RESPONSE, "application/json"]:
            status, _, answer = call(client, body, accept)
            assert status == 200
            assert "data" in answer
            assert codes(answer) == [code]


def test_an_unexpected_error_in_a_resolver_is_200_with_its_field_null(
    client, services, monkeypatch
):
    def broken(*args: Any, **kwargs: Any) -> Any:
        raise RuntimeError("secret table detail")

    monkeypatch.setattr(services.rankings(), "top_page", broken)
    status, _, answer = call(client, {"query": "{ topRestaurants { edges { rank } } }"})
    # A field error: the operation ran (spec: 2xx), and the field it failed is null.
    assert status == 200
    assert answer["data"] == {"topRestaurants": None}
    assert codes(answer) == ["INTERNAL_SERVER_ERROR"]
    assert answer["errors"][0]["path"] == ["topRestaurants"]


def test_a_failure_before_execution_is_masked_and_a_500(client, monkeypatch, caplog):
    from chalicelib.api import limits

    def broken(self: Any) -> Any:
        raise RuntimeError("secret validator detail")
        yield

    monkeypatch.setattr(limits.RequestLimits, "on_validate", broken)
    with caplog.at_level(logging.ERROR):
        status, _, answer = call(client, {"query": "{ topRestaurants { edges { rank } } }"})
        _, _, legacy = call(
            client, {"query": "{ topRestaurants { edges { rank } } }"}, "application/json"
        )
    assert status == 500
    assert "data" not in answer
    for body in [answer, legacy]:
        [error] = body["errors"]
        assert error["message"] == "Internal server error."
        assert error["extensions"]["code"] == "INTERNAL_SERVER_ERROR"
        assert error["extensions"]["requestId"] in caplog.text
        assert "secret" not in json.dumps(body)
    assert legacy["data"] is None


@pytest.mark.parametrize(
    ("body", "status", "code"),
    [
        (b"{not json", 400, "BAD_REQUEST"),
        (b'{"qeury": "{ viewer { id } }"}', 400, "BAD_REQUEST"),
        (b'{"query": "{ viewer { id } }", "variables": [7]}', 400, "BAD_REQUEST"),
        (b"[" * 100_000, 413, "PAYLOAD_TOO_LARGE"),
    ],
)
def test_broken_http_requests_answer_in_the_negotiated_media_type(client, body, status, code):
    got, headers, answer = call(client, body)
    assert (got, headers["Content-Type"]) == (status, GRAPHQL_RESPONSE_TYPE)
    assert "data" not in answer
    assert codes(answer) == [code]


def test_a_mutation_over_get_is_a_405_naming_post(client, dynamodb):
    mutation = "mutation%7Bfavorite(restaurantId:%22r1%22)%7Bchanged%7D%7D"
    for accept in [GRAPHQL_RESPONSE, "application/json"]:
        response = client.http.get(
            f"/graphql?query={mutation}",
            headers={"Authorization": token("alice"), "Accept": accept},
        )
        assert response.status_code == 405
        assert response.headers["Allow"] == "POST"
        assert codes(json.loads(response.body)) == ["METHOD_NOT_ALLOWED"]
    assert dynamodb.scan(TableName="favorites-test")["Items"] == []


def test_queries_over_get_follow_accept_too(client):
    ok = client.http.get(
        "/public/graphql?query=%7BtopRestaurants%7Bedges%7Brank%7D%7D%7D",
        headers={"Accept": GRAPHQL_RESPONSE},
    )
    assert (ok.status_code, ok.headers["Content-Type"]) == (200, GRAPHQL_RESPONSE_TYPE)
    bad = client.http.get("/public/graphql?query=%7B", headers={"Accept": GRAPHQL_RESPONSE})
    assert bad.status_code == 400
    assert "data" not in json.loads(bad.body)


def test_an_accept_header_naming_neither_media_type_is_a_406(client):
    for accept in ["text/plain", "application/xml, text/*", f"{GRAPHQL_RESPONSE};q=0"]:
        status, headers, answer = call(
            client, {"query": "{ topRestaurants { edges { rank } } }"}, accept
        )
        assert (status, headers["Content-Type"]) == (406, "application/json"), accept
        assert codes(answer) == ["NOT_ACCEPTABLE"]
    # A browser asking for a page still gets GraphiQL, where it is on.
    ide = client.http.get("/public/graphql", headers={"Accept": "text/html"})
    assert ide.status_code == 200
    assert "graphiql" in ide.body.decode().lower()


def test_the_private_route_negotiates_the_same_way(client):
    status, headers, answer = call(
        client, {"query": "{ viewer { id } }"}, path="/graphql", user="alice"
    )
    assert (status, headers["Content-Type"]) == (200, GRAPHQL_RESPONSE_TYPE)
    assert answer == {"data": {"viewer": {"id": "viewer/alice"}}}
    status, _, answer = call(client, {"query": "{ viewer {"}, path="/graphql", user="alice")
    assert status == 400
    assert "data" not in answer


@pytest.mark.parametrize(
    ("accept", "chosen"),
    [
        (None, "application/json"),
        ("", "application/json"),
        ("*/*", "application/json"),
        ("application/*", "application/json"),
        ("application/json", "application/json"),
        (GRAPHQL_RESPONSE, GRAPHQL_RESPONSE),
        (f"{GRAPHQL_RESPONSE}, application/json;q=0.9", GRAPHQL_RESPONSE),
        (f"application/json, {GRAPHQL_RESPONSE}", "application/json"),
        (f"{GRAPHQL_RESPONSE}, application/json", GRAPHQL_RESPONSE),
        (f"{GRAPHQL_RESPONSE};q=0.5, application/json", "application/json"),
        (f"{GRAPHQL_RESPONSE}, */*;q=0.1", GRAPHQL_RESPONSE),
        ("APPLICATION/GRAPHQL-RESPONSE+JSON ; charset=utf-8", GRAPHQL_RESPONSE),
        ("text/html, */*;q=0.8", "application/json"),
        ("application/json;q=0, */*", GRAPHQL_RESPONSE),
        ("application/json;q=nonsense", None),
        ("text/plain", None),
        ("*/*;q=0", None),
    ],
)
def test_accept_headers_choose_by_weight_then_specificity_then_order(accept, chosen):
    from chalicelib.api.view import negotiate

    assert negotiate(accept) == chosen
