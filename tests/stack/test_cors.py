"""CORS on the local stage, against the running ``chalice local``: the demo page's origin only."""

from __future__ import annotations

import urllib.error
import urllib.request

import pytest

from tests.stack.conftest import Stack

pytestmark = pytest.mark.integration


def _request(url: str, method: str, origin: str) -> dict[str, str]:
    headers = {"Origin": origin}
    data = None
    if method == "OPTIONS":
        headers["Access-Control-Request-Method"] = "POST"
        headers["Access-Control-Request-Headers"] = "authorization,content-type"
    else:
        headers["Content-Type"] = "application/json"
        data = b'{"query": "{ topRestaurants(first: 1) { restaurantId } }"}'
    request = urllib.request.Request(url, data=data, headers=headers, method=method)
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return {k.lower(): v for k, v in response.headers.items()}
    except urllib.error.HTTPError as error:
        return {k.lower(): v for k, v in error.headers.items()}


@pytest.mark.parametrize("route", ["/public/graphql", "/graphql"])
def test_preflight_from_the_demo_page_is_allowed(stack: Stack, route: str):
    headers = _request(f"{stack.api}{route}", "OPTIONS", stack.web)
    assert headers.get("access-control-allow-origin") == stack.web
    assert "POST" in headers.get("access-control-allow-methods", "")
    assert "authorization" in headers.get("access-control-allow-headers", "").lower()


def test_a_response_to_the_demo_page_carries_its_origin(stack: Stack):
    headers = _request(f"{stack.api}/public/graphql", "POST", stack.web)
    assert headers.get("access-control-allow-origin") == stack.web


@pytest.mark.parametrize("method", ["OPTIONS", "POST"])
@pytest.mark.parametrize("route", ["/public/graphql", "/graphql"])
def test_another_origin_is_not_allowed(stack: Stack, route: str, method: str):
    other = "http://evil.example:8002"
    headers = _request(f"{stack.api}{route}", method, other)
    # chalice's CORS is one fixed origin: the header, if any, names the demo page only.
    assert headers.get("access-control-allow-origin") in (None, stack.web)
    assert "*" not in headers.get("access-control-allow-origin", "")
