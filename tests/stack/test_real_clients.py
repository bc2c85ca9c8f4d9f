"""Apollo Client, urql with graphcache and Relay against the local stack; CORS for their pages.

The scripts in ``tests/clients`` (npm packages pinned there, installed by ``make
test``) build a home screen, page both lists and tap the heart with each client's
stock cache and pagination helpers and no hand-written cache code; Apollo's and
urql's then run it again with their stock persisted-query link and exchange,
recording what their fetch sends. Each exits non-zero on a failed expectation and
prints a JSON summary. One stack serves the module: its ranking holds only what
this module seeds, so every row is known.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import urllib.error
import urllib.request
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import pytest

from local import status
from local.tokens import token
from tests.stack.conftest import ROOT, Stack, post, require_java, wait_for

pytestmark = pytest.mark.integration

CLIENTS_DIR = ROOT / "tests" / "clients"
# A frontend dev server's origin, listed beside the demo page's.
SECOND_ORIGIN = "http://localhost:5173"
# What the clients send beside the body: the token, and Apollo's clientAwareness headers.
REQUESTED_HEADERS = (
    "authorization",
    "content-type",
    "apollographql-client-name",
    "apollographql-client-version",
)
RANKING_PAGE = 3
FAVORITES_PAGE = 2
# Fans give rc-1 six favorites, rc-2 five, ... rc-6 one; every viewer adds rc-3 to rc-7.
FANS = {f"rc-{i}": 7 - i for i in range(1, 7)}
VIEWER_FAVORITES = ["rc-3", "rc-4", "rc-5", "rc-6", "rc-7"]  # oldest first
# The Relay viewer's user id equals a restaurant id of its own screen: with ids that
# collide, Relay's store would hold one record typed both Viewer and Restaurant.
VIEWERS = {"apollo": "apollo-fan", "urql": "urql-fan", "relay": "rc-2"}
# Favorite, unfavorite, then both again with optimistic responses; Relay adds a favorite
# and an unfavorite sent around its cache before refetching through node.
WRITES = {"apollo": 4, "urql": 4, "relay": 6}
RANKING = "{ topRestaurants(first: 100) { edges { favoriteCount node { id } } } }"


@dataclass
class Seeded:
    """What the module's stack holds: the ranking, each viewer's favorites, the writes so far."""

    stack: Stack
    ranking: list[dict[str, Any]]
    favorites: list[str]  # newest first, the same for every viewer
    writes: int
    summaries: dict[str, dict[str, Any]] = field(default_factory=dict)

    def expected(self) -> str:
        # The first restaurant of page 1 without the viewers' heart: the one they tap.
        target = next(row["id"] for row in self.ranking if row["id"] not in self.favorites)
        assert target in [row["id"] for row in self.ranking[:RANKING_PAGE]]
        return json.dumps(
            {
                "ranking": self.ranking,
                "favorites": self.favorites,
                "target": target,
                "rankingPage": RANKING_PAGE,
                "favoritesPage": FAVORITES_PAGE,
            }
        )

    def settled(self) -> None:
        """Wait until the stream worker counted every write and the ranking is the seeded one."""

        def counted() -> bool:
            worker = (status.read(self.stack.data_dir) or {}).get("worker", {})
            return int(worker.get("records", 0)) >= self.writes and ranking(self.stack) == [
                (row["id"], row["count"]) for row in self.ranking
            ]

        wait_for(counted, timeout=20, what="the seeded ranking, every write counted")


def ranking(stack: Stack) -> list[tuple[str, int]]:
    body = post(f"{stack.api}/public/graphql", RANKING)
    edges = body["data"]["topRestaurants"]["edges"]
    return [(edge["node"]["id"], edge["favoriteCount"]) for edge in edges]


def favorite(stack: Stack, user: str, restaurant: str) -> None:
    query = f'mutation {{ favorite(restaurantId: "{restaurant}") {{ changed }} }}'
    assert post(f"{stack.api}/graphql", query, user) == {"data": {"favorite": {"changed": True}}}


@pytest.fixture(scope="module")
def frontends(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    """One stack for the module, with a second browser origin listed."""
    require_java()
    running = Stack(tmp_path_factory.mktemp("clients"), options=("--allow-origin", SECOND_ORIGIN))
    yield running
    leftover = running.stop()
    assert not leftover, f"processes left running: {leftover}"


@pytest.fixture(scope="module")
def seeded(frontends: Stack) -> Seeded:
    counts: Counter[str] = Counter()
    for restaurant, fans in FANS.items():
        for fan in range(fans):
            favorite(frontends, f"fan-{fan}", restaurant)
            counts[restaurant] += 1
    for user in VIEWERS.values():
        for restaurant in VIEWER_FAVORITES:
            favorite(frontends, user, restaurant)
            counts[restaurant] += 1
    # Highest count first, ties by restaurant id: the ranking's own order.
    rows = sorted(counts.items(), key=lambda item: (-item[1], item[0]))
    assert len(rows) > RANKING_PAGE * 2, "the ranking needs three pages"
    assert len(VIEWER_FAVORITES) > FAVORITES_PAGE * 2, "the favorites need three pages"
    found = Seeded(
        stack=frontends,
        ranking=[{"id": restaurant, "count": count} for restaurant, count in rows],
        favorites=list(reversed(VIEWER_FAVORITES)),
        writes=sum(counts.values()),
    )
    found.settled()
    return found


def run_client(name: str, seeded: Seeded) -> dict[str, Any]:
    """Run one client's script once for the module; later calls get its summary back."""
    if name in seeded.summaries:
        return seeded.summaries[name]
    node = shutil.which("node")
    if node is None or not (CLIENTS_DIR / "node_modules" / ".installed").is_file():
        pytest.fail("the client scripts need Node.js and tests/clients' packages: run `make test`")
    seeded.settled()  # the client before may have left writes the worker has not counted yet
    env = {k: v for k, v in os.environ.items() if k != "NODE_ENV"}  # the clients' dev warnings on
    env["CLIENTS_API_URL"] = seeded.stack.api
    env["CLIENTS_TOKEN"] = token(VIEWERS[name])
    env["CLIENTS_EXPECTED"] = seeded.expected()
    result = subprocess.run(
        [node, f"{name}.mjs"],
        cwd=CLIENTS_DIR,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 0, f"{name} failed:\n{result.stderr}{result.stdout}"
    seeded.writes += WRITES[name]
    summary: dict[str, Any] = json.loads(result.stdout.strip().splitlines()[-1])
    seeded.summaries[name] = summary
    return summary


@pytest.mark.parametrize("name", ["apollo", "urql", "relay"])
def test_a_client_keeps_its_normalized_cache_right_with_no_cache_code(seeded: Seeded, name: str):
    summary = run_client(name, seeded)
    assert summary["client"] == name
    # Page 2 and 3 appended to page 1, in order, until hasNextPage said the end.
    assert summary["ranking"] == [row["id"] for row in seeded.ranking]
    assert summary["favorites"] == seeded.favorites
    assert summary["rankingPages"] == 3
    assert summary["favoritesPages"] == 3
    # The heart flipped from the payload alone, and before the answer with an optimistic response.
    assert summary["optimistic"] is True
    assert summary["warnings"] == 0
    home = "HomeQuery" if name == "relay" else "Home"
    assert summary["requests"][home] == 1


def test_graphcache_warns_about_nothing(seeded: Seeded):
    summary = run_client("urql", seeded)
    assert summary["warnings"] == 0
    # Both the plain client and the one with optimistic responses ran the home screen.
    assert summary["optimisticRequests"]["Home"] == 1


def test_relay_refetches_a_restaurant_through_node(seeded: Seeded):
    summary = run_client("relay", seeded)
    assert summary["refetchedThroughNode"] is True
    assert summary["requests"]["RestaurantHeartRefetchQuery"] == 2


# What the stock persisted-query clients send for a document the server has never seen,
# then for it again from the same client and from a brand-new one: (method, document
# sent, hash sent, error codes). The document goes by POST from Apollo (its link's choice
# for a document), by GET from urql (preferGetForPersistedQueries).
Sent = tuple[str, bool, bool, list[str]]
MISS: Sent = ("GET", False, True, ["PERSISTED_QUERY_NOT_FOUND"])
HASH_ONLY: Sent = ("GET", False, True, [])
DOCUMENT: dict[str, Sent] = {"apollo": ("POST", True, True, []), "urql": ("GET", True, True, [])}


def _sent(requests: list[dict[str, Any]]) -> list[Sent]:
    return [(r["method"], r["document"], r["hashed"], r["codes"]) for r in requests]


@pytest.mark.parametrize("name", ["apollo", "urql"])
def test_a_stock_client_sends_the_document_once_then_only_its_hash_as_a_get(
    seeded: Seeded, name: str
):
    persisted = run_client(name, seeded)["persisted"]
    # First run: the hash, PersistedQueryNotFound, the document; the same client again,
    # then a brand-new client (another cache): the hash alone, answered.
    assert _sent(persisted["homeRequests"]) == [MISS, DOCUMENT[name], HASH_ONLY, HASH_ONLY]
    assert _sent(persisted["publicRequests"]) == [MISS, DOCUMENT[name], HASH_ONLY]


@pytest.mark.parametrize("name", ["apollo", "urql"])
def test_a_public_hash_only_get_is_cacheable_and_revalidates_to_a_304(seeded: Seeded, name: str):
    caching = run_client(name, seeded)["persisted"]["publicCaching"]
    assert caching["maxAge"] == 5  # CACHE_MAX_AGE_SECONDS: the current period
    assert caching["etag"].startswith('"')
    assert caching["notModified"] == 304
    assert caching["otherTag"] == 200


def _headers(url: str, method: str, origin: str) -> dict[str, str]:
    headers = {"Origin": origin}
    data = None
    if method == "OPTIONS":
        headers["Access-Control-Request-Method"] = "POST"
        headers["Access-Control-Request-Headers"] = ",".join(REQUESTED_HEADERS)
    else:
        headers["Content-Type"] = "application/json"
        data = json.dumps({"query": "{ topRestaurants(first: 1) { edges { cursor } } }"}).encode()
    request = urllib.request.Request(url, data=data, headers=headers, method=method)
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return {k.lower(): v for k, v in response.headers.items()}
    except urllib.error.HTTPError as error:
        return {k.lower(): v for k, v in error.headers.items()}


@pytest.mark.parametrize("route", ["/public/graphql", "/graphql"])
def test_a_preflight_from_a_second_listed_origin_is_allowed(frontends: Stack, route: str):
    headers = _headers(f"{frontends.api}{route}", "OPTIONS", SECOND_ORIGIN)
    assert headers.get("access-control-allow-origin") == SECOND_ORIGIN
    assert "origin" in [v.strip().lower() for v in headers.get("vary", "").split(",")]
    assert headers.get("access-control-max-age") == "7200"
    assert "POST" in headers.get("access-control-allow-methods", "")
    listed = headers.get("access-control-allow-headers", "")
    allowed = {name.strip().lower() for name in listed.split(",")}
    assert set(REQUESTED_HEADERS) <= allowed


def test_a_response_to_the_second_origin_carries_that_origin(frontends: Stack):
    headers = _headers(f"{frontends.api}/public/graphql", "POST", SECOND_ORIGIN)
    assert headers.get("access-control-allow-origin") == SECOND_ORIGIN
    assert "origin" in [v.strip().lower() for v in headers.get("vary", "").split(",")]


@pytest.mark.parametrize("method", ["OPTIONS", "POST"])
@pytest.mark.parametrize("route", ["/public/graphql", "/graphql"])
def test_an_unlisted_origin_gets_no_allow_origin(frontends: Stack, route: str, method: str):
    headers = _headers(f"{frontends.api}{route}", method, "http://localhost:5174")
    assert "access-control-allow-origin" not in headers
