"""Fuzzing the GraphQL API in-process: schemathesis and hypothesis, on moto.

schemathesis generates operations from the exported schema and sends them
through a small WSGI adapter over Chalice's own local gateway (the code behind
``chalice local`` and the test client), so authorizer decoding, routing and the
view all run, without a server process or a port. Example counts are bounded so
the module stays well under a minute on two cores.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Iterable
from typing import Any

import schemathesis
from graphql import GraphQLNamedType, GraphQLObjectType, IntValueNode
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from chalicelib.api.schema import build_schema, sdl
from local.tokens import token
from tests.support import COUNTS_TABLE, FAVORITES_TABLE

# The codes SECURITY.md documents; anything else (INTERNAL_SERVER_ERROR above all) is a bug.
DOCUMENTED_CODES = {
    "BAD_USER_INPUT",
    "UNAUTHENTICATED",
    "GRAPHQL_VALIDATION_FAILED",
    "GRAPHQL_PARSE_FAILED",
}
HTTP_CODES = {"BAD_REQUEST", "PAYLOAD_TOO_LARGE"}
FUZZ = settings(
    max_examples=40,
    deadline=None,
    derandomize=True,  # the same examples on every run: CI results are reproducible
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
    database=None,
)

WSGIApp = Callable[[dict[str, Any], Callable[..., Any]], Iterable[bytes]]


def chalice_wsgi(client: Any) -> WSGIApp:
    """A WSGI app that hands each request to Chalice's local gateway."""

    def app(environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
        length = int(environ.get("CONTENT_LENGTH") or 0)
        body = environ["wsgi.input"].read(length) if length else b""
        headers = {
            key[5:].replace("_", "-").title(): value
            for key, value in environ.items()
            if key.startswith("HTTP_")
        }
        if environ.get("CONTENT_TYPE"):
            headers["Content-Type"] = environ["CONTENT_TYPE"]
        path = environ.get("PATH_INFO") or "/"
        if environ.get("QUERY_STRING"):
            path += "?" + environ["QUERY_STRING"]
        response = client.http.request(environ["REQUEST_METHOD"], path, headers=headers, body=body)
        start_response(f"{response.status_code} -", list(response.headers.items()))
        return [response.body or b""]

    return app


def assert_graphql_answer(status: int, body: bytes) -> dict[str, Any]:
    """No 5xx; a GraphQL-shaped JSON object; only documented error codes."""
    assert status < 500, body
    answer = json.loads(body)
    assert isinstance(answer, dict), answer
    assert set(answer) <= {"data", "errors", "extensions"}, answer
    assert "data" in answer or answer.get("errors"), answer
    allowed = DOCUMENTED_CODES if status == 200 else HTTP_CODES
    for error in answer.get("errors", []):
        assert isinstance(error["message"], str), error
        assert error["message"], error
        assert error["extensions"]["code"] in allowed, error
        assert "Traceback" not in error["message"]
    return dict(answer)


def table_state(dynamodb: Any) -> dict[str, list[Any]]:
    return {
        table: sorted(
            json.dumps(item, sort_keys=True) for item in dynamodb.scan(TableName=table)["Items"]
        )
        for table in (FAVORITES_TABLE, COUNTS_TABLE)
    }


# Integers of any length, as text: Python's int() and str() refuse more than
# 4300 digits, so numbers that long exist only as the digits a client sends.
# Up to 6,000 digits keeps a body under MAX_REQUEST_BODY_BYTES.
DIGITS = st.builds(
    lambda sign, first, length: sign + first + "9" * length,
    st.sampled_from(["", "-"]),
    st.sampled_from("123456789"),
    st.one_of(
        st.integers(min_value=0, max_value=120), st.integers(min_value=4_290, max_value=6_000)
    ),
)
# schemathesis's Int stays within 32 bits; these literals also go past that,
# to every length, through a strategy for the built-in Int.
schemathesis.graphql.scalar(
    "Int",
    st.one_of(
        st.integers(min_value=-(2**31), max_value=2**31 - 1).map(
            lambda n: IntValueNode(value=str(n))
        ),
        DIGITS.map(lambda digits: IntValueNode(value=digits)),
    ),
)
SCHEMATHESIS = schemathesis.graphql.from_file(sdl())


@SCHEMATHESIS.parametrize()
@FUZZ
def test_schemathesis_finds_no_5xx_and_only_graphql_json(case, client):
    for path, headers in (
        ("/graphql", {"Authorization": token("fuzzer")}),
        ("/public/graphql", {}),
    ):
        response = case.call(
            app=chalice_wsgi(client), base_url=f"http://localhost{path}", headers=headers
        )
        assert_graphql_answer(response.status_code, response.content)


# -- every argument of every field, with arbitrary strings and numbers ---------


class Digits(str):
    """A JSON number written into the body as its digits (see :func:`body_of`)."""


RAW = "#DIGITS#"


def body_of(query: str, variables: dict[str, Any]) -> str:
    """The JSON body, with each :class:`Digits` value as a bare number."""
    marked = {
        name: RAW + value if isinstance(value, Digits) else value
        for name, value in variables.items()
    }
    text = json.dumps({"query": query, "variables": marked})
    return re.sub(f'"{RAW}(-?[0-9]+)"', r"\1", text)


STRINGS = st.text(max_size=200)
ANYTHING = st.one_of(
    STRINGS,
    st.integers(min_value=-(2**40), max_value=2**40),
    DIGITS.map(Digits),
    st.floats(allow_nan=False, allow_infinity=False),
    st.none(),
    st.booleans(),
)
ID_LIKE = st.from_regex(r"[A-Za-z0-9#][A-Za-z0-9._:#-]{0,140}", fullmatch=True)
# Per argument: values of the right type often enough to reach the resolvers,
# and arbitrary strings and numbers for the rest.
VARIABLE_VALUES: dict[str, st.SearchStrategy[Any]] = {
    "window": st.one_of(st.sampled_from(["ALL_TIME", "MONTH", "DAY"]), ANYTHING),
    "period": st.one_of(
        st.none(), st.from_regex(r"[0-9]{4}-[0-9]{1,2}(-[0-9]{1,2})?", fullmatch=True), ANYTHING
    ),
    "first": st.one_of(st.integers(min_value=-3, max_value=130), ANYTHING),
    "after": st.one_of(
        st.none(),
        st.from_regex(r"[A-Za-z0-9_-]{8,120}(\.[A-Za-z0-9_-]{0,30})?", fullmatch=True),
        ANYTHING,
    ),
    # Restaurant ids, and viewer ids: the caller's own, another user's.
    "id": st.one_of(
        st.sampled_from(["r1", "victims-pick", "viewer/fuzzer", "viewer/victim"]),
        ID_LIKE,
        ANYTHING,
    ),
    "restaurantId": st.one_of(st.sampled_from(["r1", "r2", "victims-pick"]), ID_LIKE, ANYTHING),
    "ids": st.one_of(
        st.lists(st.one_of(st.sampled_from(["r1", "victims-pick"]), ID_LIKE), max_size=120),
        st.lists(ANYTHING, max_size=5),
        ANYTHING,
    ),
    # Federation's _Any takes any JSON: well-formed keys, other types, other shapes.
    "representations": st.one_of(
        st.lists(
            st.one_of(
                st.fixed_dictionaries(
                    {
                        "__typename": st.sampled_from(["Restaurant", "Viewer", "Query", ""]),
                        "id": st.one_of(ID_LIKE, ANYTHING),
                    }
                ),
                st.dictionaries(STRINGS, ANYTHING, max_size=3),
                ANYTHING,
            ),
            max_size=110,
        ),
        ANYTHING,
    ),
}

# How to reach each field that takes arguments; the test below checks this
# covers every argument in the schema, so a new one cannot go unfuzzed.
OPERATIONS: dict[tuple[str, str], str] = {
    ("Query", "topRestaurants"): "query Q($window: TimeWindow!, $period: String, $first: Int!,"
    " $after: String) { topRestaurants(window: $window, period: $period, first: $first,"
    " after: $after) { edges { rank cursor node { id viewerHasFavorited } }"
    " pageInfo { hasNextPage endCursor } } }",
    ("Query", "restaurants"): "query Q($ids: [ID!]!)"
    " { restaurants(ids: $ids) { id favoriteCount viewerHasFavorited } }",
    ("Query", "_entities"): "query Q($representations: [_Any!]!)"
    " { _entities(representations: $representations)"
    " { ... on Restaurant { id favoriteCount viewerHasFavorited } } }",
    ("Query", "restaurant"): "query Q($id: ID!) { restaurant(id: $id) { id viewerHasFavorited } }",
    ("Query", "node"): "query Q($id: ID!) { node(id: $id) { id"
    " ... on Restaurant { favoriteCount viewerHasFavorited }"
    " ... on Viewer { favorites(first: 2) { edges { node { id } } } } } }",
    ("Restaurant", "favoriteCount"): "query Q($window: TimeWindow!, $period: String)"
    ' { restaurant(id: "r1") { favoriteCount(window: $window, period: $period) } }',
    ("Viewer", "favorites"): "query Q($first: Int!, $after: String)"
    " { viewer { favorites(first: $first, after: $after)"
    " { edges { cursor node { id } } pageInfo { hasNextPage endCursor } } } }",
    ("Mutation", "favorite"): "mutation M($restaurantId: ID!)"
    " { favorite(restaurantId: $restaurantId)"
    " { restaurant { id viewerHasFavorited } changed favoriteEdge { cursor node { id } } } }",
    ("Mutation", "unfavorite"): "mutation M($restaurantId: ID!)"
    " { unfavorite(restaurantId: $restaurantId)"
    " { restaurant { id viewerHasFavorited } changed favoriteEdge { cursor node { id } } } }",
}


def variables_of(key: tuple[str, str]) -> set[str]:
    return set(re.findall(r"\$(\w+):", OPERATIONS[key]))


OPERATION_AND_VARIABLES = st.sampled_from(sorted(OPERATIONS)).flatmap(
    lambda key: st.tuples(
        st.just(key),
        st.fixed_dictionaries({name: VARIABLE_VALUES[name] for name in variables_of(key)}),
    )
)


def arguments_in_schema() -> dict[tuple[str, str], set[str]]:
    found: dict[tuple[str, str], set[str]] = {}
    named: GraphQLNamedType
    for name, named in build_schema()._schema.type_map.items():
        if name.startswith("__") or not isinstance(named, GraphQLObjectType):
            continue
        for field_name, field in named.fields.items():
            if field.args:
                found[(name, field_name)] = set(field.args)
    return found


def test_the_fuzzed_operations_cover_every_argument_of_every_field():
    covered = {key: variables_of(key) for key in OPERATIONS}
    assert covered == arguments_in_schema()
    assert set().union(*covered.values()) == set(VARIABLE_VALUES)


def test_arbitrary_argument_values_get_documented_errors_and_change_nothing_else(client, dynamodb):
    def favorite_keys() -> set[tuple[str, str]]:
        items = dynamodb.scan(TableName=FAVORITES_TABLE)["Items"]
        return {(item["restaurant_id"]["S"], item["user_id"]["S"]) for item in items}

    for user, restaurant in (("victim", "victims-pick"), ("fuzzer", "r1")):
        response = client.http.post(
            "/graphql",
            headers={"Content-Type": "application/json", "Authorization": token(user)},
            body=json.dumps(
                {
                    "query": OPERATIONS[("Mutation", "favorite")],
                    "variables": {"restaurantId": restaurant},
                }
            ),
        )
        assert response.status_code == 200

    @settings(FUZZ, max_examples=150)
    @given(case=OPERATION_AND_VARIABLES, signed_in=st.booleans())
    def check(case: tuple[tuple[str, str], dict[str, Any]], signed_in: bool) -> None:
        key, variables = case
        operation = OPERATIONS[key]
        before = table_state(dynamodb)
        keys_before = favorite_keys()
        headers = {"Content-Type": "application/json"}
        if signed_in:
            headers["Authorization"] = token("fuzzer")
        response = client.http.post(
            "/graphql" if signed_in else "/public/graphql",
            headers=headers,
            body=body_of(operation, variables),
        )
        answer = assert_graphql_answer(response.status_code, response.body)
        payload = (answer.get("data") or {}).get(key[1]) if key[0] == "Mutation" else None
        if payload and payload["changed"]:
            assert signed_in
            change = {(payload["restaurant"]["id"], "fuzzer")}
            if key[1] == "favorite":
                assert favorite_keys() == keys_before | change
            else:
                assert favorite_keys() == keys_before - change
        else:
            assert table_state(dynamodb) == before
        assert ("victims-pick", "victim") in favorite_keys()

    check()


@FUZZ
@given(
    body=st.one_of(st.binary(max_size=300), st.text(max_size=300).map(str.encode)),
    content_type=st.sampled_from(["application/json", "application/json; charset=utf-8", ""]),
)
def test_arbitrary_request_bodies_never_get_a_5xx(client, body, content_type):
    headers = {"Content-Type": content_type} if content_type else {}
    response = client.http.post("/public/graphql", headers=headers, body=body)
    assert_graphql_answer(response.status_code, response.body)
