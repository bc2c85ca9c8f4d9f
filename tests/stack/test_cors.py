"""CORS on the local stage, against the running ``chalice local``: a list of origins.

The session's stack allows the demo page's origin and two more given with
``--allow-origin`` (``EXTRA_ORIGINS``). A listed origin is answered with itself,
on preflights and on responses, on both routes; any other gets no
``Access-Control-Allow-Origin`` at all.
"""

from __future__ import annotations

import json
import urllib.error
import urllib.parse
import urllib.request

import pytest

from local.tokens import token
from tests.stack.conftest import EXTRA_ORIGINS, Stack

pytestmark = pytest.mark.integration

ROUTES = ["/public/graphql", "/graphql"]
QUERY = "{ topRestaurants(first: 1) { edges { node { id } } } }"
# What the GraphQL clients send: the token, the JSON body, Apollo's client awareness.
CLIENT_HEADERS = (
    "authorization",
    "content-type",
    "apollographql-client-name",
    "apollographql-client-version",
)
# Which listed origin a test uses: the demo page's (known once the stack runs) or an added one.
LISTED = ["demo page", *EXTRA_ORIGINS]
UNLISTED = [
    "http://evil.example:8002",
    "null",  # what a sandboxed frame or a file: page sends
    f"{EXTRA_ORIGINS[0]}.evil.example",  # a listed origin as a prefix is not that origin
    EXTRA_ORIGINS[0].replace("http://", "https://"),  # another scheme is another origin
]


def _origin(stack: Stack, listed: str) -> str:
    return stack.web if listed == "demo page" else listed


def _request(
    stack: Stack, route: str, method: str, origin: str | None
) -> tuple[int, dict[str, str]]:
    """The status and the (lower-cased) headers of one request as a browser sends it."""
    url = f"{stack.api}{route}"
    headers = {"Authorization": token("cors-user")} if route == "/graphql" else {}
    data = None
    if method == "OPTIONS":
        headers = {
            "Access-Control-Request-Method": "POST",
            "Access-Control-Request-Headers": ",".join(CLIENT_HEADERS),
        }
    elif method == "GET":
        url += "?" + urllib.parse.urlencode({"query": QUERY})
    else:
        headers["Content-Type"] = "application/json"
        data = json.dumps({"query": QUERY}).encode()
    if origin is not None:
        headers["Origin"] = origin
    request = urllib.request.Request(url, data=data, headers=headers, method=method)
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return response.status, {k.lower(): v for k, v in response.headers.items()}
    except urllib.error.HTTPError as error:
        return error.code, {k.lower(): v for k, v in error.headers.items()}


def _listed(value: str) -> set[str]:
    return {item.strip().lower() for item in value.split(",") if item.strip()}


@pytest.mark.parametrize("listed", LISTED)
@pytest.mark.parametrize("route", ROUTES)
def test_a_preflight_from_a_listed_origin_allows_it_with_the_clients_headers(
    stack: Stack, route: str, listed: str
):
    origin = _origin(stack, listed)
    status, headers = _request(stack, route, "OPTIONS", origin)
    assert 200 <= status < 300  # a browser takes only an ok status as a preflight's yes
    assert headers.get("access-control-allow-origin") == origin
    assert "origin" in _listed(headers.get("vary", ""))
    # Two hours: the browser asks again at most that often, not before every request.
    assert headers.get("access-control-max-age") == "7200"
    assert {"get", "post"} <= _listed(headers.get("access-control-allow-methods", ""))
    assert set(CLIENT_HEADERS) <= _listed(headers.get("access-control-allow-headers", ""))


@pytest.mark.parametrize("method", ["GET", "POST"])
@pytest.mark.parametrize("listed", LISTED)
@pytest.mark.parametrize("route", ROUTES)
def test_a_response_to_a_listed_origin_carries_that_origin(
    stack: Stack, route: str, listed: str, method: str
):
    origin = _origin(stack, listed)
    status, headers = _request(stack, route, method, origin)
    assert status == 200
    assert headers.get("access-control-allow-origin") == origin
    # The answer depends on the origin (and, as before, on Accept): no shared cache
    # may hand it to another origin.
    assert {"origin", "accept"} <= _listed(headers.get("vary", ""))


@pytest.mark.parametrize("origin", UNLISTED)
@pytest.mark.parametrize("method", ["OPTIONS", "GET", "POST"])
@pytest.mark.parametrize("route", ROUTES)
def test_an_unlisted_origin_gets_no_cors_permission(
    stack: Stack, route: str, method: str, origin: str
):
    _, headers = _request(stack, route, method, origin)
    assert "access-control-allow-origin" not in headers
    assert "access-control-allow-headers" not in headers
    assert "access-control-max-age" not in headers
    # A cache must not hand this answer to a listed origin either.
    assert "origin" in _listed(headers.get("vary", ""))


@pytest.mark.parametrize("route", ROUTES)
def test_a_request_without_an_origin_gets_no_cors_headers(stack: Stack, route: str):
    status, headers = _request(stack, route, "POST", None)
    assert status == 200
    assert not any(name.startswith("access-control-") for name in headers)
