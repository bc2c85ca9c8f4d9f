"""The favorites API in a real supergraph: Apollo's federation gateway (npm, pinned in
tests/federation/package.json) composes it with a tiny catalog subgraph that owns
restaurant names, and a client asks the gateway for a ranked list with names and hearts.

Skips only where Node.js or the gateway's packages are missing, never under CI=true
(``make test`` installs them).
"""

from __future__ import annotations

import json
import select
import shutil
import subprocess
from collections.abc import Iterator
from typing import Any

import pytest
import requests

from local.tokens import token
from tests.stack.conftest import ROOT, Stack, post, wait_for
from tests.support import skip_unless_ci

pytestmark = pytest.mark.integration

FEDERATION = ROOT / "tests" / "federation"
NAMES = {"fed-pizza": "Pizza Federale", "fed-sushi": "Sushi Subgraph", "fed-tacos": "Taco Gateway"}
# How many users favorite each; the viewer favorites fed-sushi only.
FANS = {"fed-pizza": 3, "fed-sushi": 2, "fed-tacos": 1}
VIEWER = "gateway-viewer"


def require_gateway() -> str:
    node = shutil.which("node")
    installed = (FEDERATION / "node_modules" / "@apollo" / "gateway").is_dir()
    if node is None or not installed:
        skip_unless_ci(
            "Node.js or tests/federation/node_modules missing (make test installs them)",
            "Node.js and tests/federation's packages are required",
        )
    return node


@pytest.fixture(scope="module")
def supergraph(stack: Stack, tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, str]]:
    node = require_gateway()
    log = tmp_path_factory.mktemp("gateway") / "gateway.log"
    with log.open("w") as errors:
        process = subprocess.Popen(
            [node, "gateway.mjs", f"{stack.api}/graphql", json.dumps(NAMES), token("gateway")],
            cwd=FEDERATION,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=errors,
            text=True,
        )
    try:
        assert process.stdout is not None
        ready, _, _ = select.select([process.stdout], [], [], 60)
        line = process.stdout.readline() if ready else ""
        if not line:
            process.kill()
            process.wait()
            raise AssertionError(f"the gateway did not start:\n{log.read_text()}")
        yield json.loads(line)
    finally:
        if process.poll() is None:
            assert process.stdin is not None
            process.stdin.close()  # the script stops its servers when stdin ends
            try:
                process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()


def ask(url: str, query: str, user: str | None = None) -> dict[str, Any]:
    headers = {"Content-Type": "application/json"}
    if user is not None:
        headers["Authorization"] = token(user)
    response = requests.post(url, json={"query": query}, headers=headers, timeout=20)
    assert response.status_code == 200, response.text
    return dict(response.json())


def seed(stack: Stack) -> None:
    favorite = 'mutation { favorite(restaurantId: "%s") { changed } }'
    for restaurant, fans in FANS.items():
        for fan in range(fans):
            post(f"{stack.api}/graphql", favorite % restaurant, user=f"fed-fan-{fan}")
    post(f"{stack.api}/graphql", favorite % "fed-sushi", user=VIEWER)
    ids = json.dumps(list(FANS))
    counted = f"{{ restaurants(ids: {ids}) {{ favoriteCount }} }}"

    def applied() -> bool:
        rows = post(f"{stack.api}/public/graphql", counted)["data"]["restaurants"]
        expected = [FANS[r] + (r == "fed-sushi") for r in FANS]
        return [row["favoriteCount"] for row in rows] == expected

    wait_for(applied, what="the stream worker to count the favorites")


def test_the_gateway_answers_a_ranked_list_with_names_and_the_viewers_hearts(
    stack: Stack, supergraph: dict[str, str]
):
    seed(stack)
    query = """
    { topRestaurants(window: DAY, first: 100) {
        edges {
          rank favoriteCount
          node { id name viewerHasFavorited favoriteCount(window: DAY) } }
        pageInfo { hasNextPage } } }
    """
    answer = ask(supergraph["gateway"], query, user=VIEWER)
    assert "errors" not in answer, answer
    ranking = answer["data"]["topRestaurants"]
    assert ranking["pageInfo"] == {"hasNextPage": False}  # 100 rows hold today's ranking
    rows = [r for r in ranking["edges"] if r["node"]["id"] in NAMES]
    # fed-pizza and fed-sushi both have 3 today (the viewer's heart included): ties by id.
    assert [(r["node"]["id"], r["node"]["name"], r["favoriteCount"]) for r in rows] == [
        ("fed-pizza", "Pizza Federale", 3),
        ("fed-sushi", "Sushi Subgraph", 3),
        ("fed-tacos", "Taco Gateway", 1),
    ]
    # The hearts are the viewer's: the gateway forwarded the token to this subgraph.
    assert [r["node"]["viewerHasFavorited"] for r in rows] == [False, True, False]
    assert all(r["node"]["favoriteCount"] == r["favoriteCount"] for r in rows)
    ranks = [r["rank"] for r in rows]
    assert ranks == sorted(ranks)

    # Another viewer through the same gateway sees no heart there.
    other = ask(supergraph["gateway"], query, user="somebody-else")
    assert not any(
        r["node"]["viewerHasFavorited"]
        for r in other["data"]["topRestaurants"]["edges"]
        if r["node"]["id"] in NAMES
    )


def test_the_gateway_answers_the_viewers_favorites_and_a_favorite_with_names(
    stack: Stack, supergraph: dict[str, str]
):
    seed(stack)
    # The viewer's own list, named by the catalog: edges of Restaurant entities.
    query = "{ viewer { favorites(first: 5) { edges { node { id name viewerHasFavorited } } } } }"
    answer = ask(supergraph["gateway"], query, user=VIEWER)
    assert "errors" not in answer, answer
    assert answer["data"]["viewer"]["favorites"]["edges"] == [
        {"node": {"id": "fed-sushi", "name": "Sushi Subgraph", "viewerHasFavorited": True}}
    ]
    # A mutation's payload is the restaurant after the call: the gateway adds its name.
    # (Taken back at once: the other tests count fed-tacos's fans.)
    change = """
    mutation { %s(restaurantId: "fed-tacos") {
        changed restaurant { id name viewerHasFavorited } favoriteEdge { node { id name } } } }
    """
    answers = [
        ask(supergraph["gateway"], change % name, user="fed-newcomer")
        for name in ("favorite", "unfavorite")
    ]
    assert all("errors" not in answer for answer in answers), answers
    assert answers[0]["data"]["favorite"] == {
        "changed": True,
        "restaurant": {"id": "fed-tacos", "name": "Taco Gateway", "viewerHasFavorited": True},
        "favoriteEdge": {"node": {"id": "fed-tacos", "name": "Taco Gateway"}},
    }
    assert answers[1]["data"]["unfavorite"] == {
        "changed": True,
        "restaurant": {"id": "fed-tacos", "name": "Taco Gateway", "viewerHasFavorited": False},
        "favoriteEdge": None,
    }


def test_the_gateway_joins_our_counts_onto_the_catalogs_list_through_entities(
    stack: Stack, supergraph: dict[str, str]
):
    seed(stack)
    query = "{ catalog { id name favoriteCount viewerHasFavorited } }"
    answer = ask(supergraph["gateway"], query, user=VIEWER)
    assert "errors" not in answer, answer
    assert answer["data"]["catalog"] == [
        {
            "id": restaurant,
            "name": NAMES[restaurant],
            "favoriteCount": FANS[restaurant] + (restaurant == "fed-sushi"),
            "viewerHasFavorited": restaurant == "fed-sushi",
        }
        for restaurant in NAMES
    ]
