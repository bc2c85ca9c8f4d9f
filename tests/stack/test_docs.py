"""Docs that run: every GraphQL example in README.md, against the running stack.

The examples are read from README.md itself (its ```graphql blocks and the
```sh block with curl), so the README cannot drift from the API. They run
through a real GraphQL client (gql, requests transport) that first validates
them against the schema the stack serves.
"""

from __future__ import annotations

import json
import re
import subprocess
from typing import Any

import pytest
import requests
from gql import Client, GraphQLRequest, gql
from gql.transport.requests import RequestsHTTPTransport
from graphql import OperationDefinitionNode, parse, print_ast

from local.tokens import token
from tests.stack.conftest import ROOT, Stack, wait_for

pytestmark = pytest.mark.integration

README = (ROOT / "README.md").read_text()
DOCUMENTED_API = "http://127.0.0.1:8000"


def blocks(language: str) -> list[str]:
    return re.findall(rf"^```{language}\n(.*?)^```", README, flags=re.MULTILINE | re.DOTALL)


def operations(block: str) -> list[tuple[str, str]]:
    """(kind, text) of each operation of a block: a document may hold one anonymous operation."""
    document = parse(block)
    return [
        (definition.operation.value, print_ast(definition))
        for definition in document.definitions
        if isinstance(definition, OperationDefinitionNode)
    ]


def client(url: str, user: str | None = None) -> Client:
    headers = {"Authorization": token(user)} if user else {}
    transport = RequestsHTTPTransport(url=url, headers=headers, timeout=10)
    # Introspect first: every example is validated against the served schema.
    return Client(transport=transport, fetch_schema_from_transport=True)


def test_the_readme_has_the_examples_this_test_runs():
    kinds = [kind for block in blocks("graphql") for kind, _ in operations(block)]
    assert kinds.count("mutation") >= 2
    assert "query" in kinds
    assert any("curl" in block and "Authorization" in block for block in blocks("sh"))


def test_every_graphql_example_runs_as_documented(stack: Stack):
    user = "readme-reader"
    with client(f"{stack.api}/graphql", user) as session:
        results: list[dict[str, Any]] = []
        for block in blocks("graphql"):
            for _, operation in operations(block):
                results.append(session.execute(gql(operation)))  # raises on any error
    # The first example favorites, the second takes it back: both change something,
    # and each payload's restaurant carries the new heart.
    favorite = results[0]["favorite"]
    assert favorite["changed"] is True
    assert favorite["restaurant"]["id"] == "pizza-palace"
    assert favorite["restaurant"]["viewerHasFavorited"] is True
    assert isinstance(favorite["restaurant"]["favoriteCount"], int)
    edge = favorite["favoriteEdge"]
    assert edge["cursor"]
    assert edge["node"] == {"id": "pizza-palace"}
    assert edge["createdAt"].endswith("Z")
    assert results[1]["unfavorite"] == {
        "changed": True,
        "restaurant": {"id": "pizza-palace", "viewerHasFavorited": False},
        "favoriteEdge": None,
    }
    query = next(r for r in results if "viewer" in r)
    assert query["viewer"]["id"] == f"viewer/{user}"
    # Favorited and taken back: the list is empty, and says it ends.
    assert query["viewer"]["favorites"] == {
        "edges": [],
        "pageInfo": {"hasNextPage": False, "endCursor": None},
    }
    assert query["restaurant"]["viewerHasFavorited"] is False
    assert query["node"] == {
        "__typename": "Restaurant",
        "id": "pizza-palace",
        "viewerHasFavorited": False,
    }
    for window in ("allTime", "thisMonth", "oneDay"):
        assert isinstance(query[window]["edges"], list)
    assert query["oneDay"]["pageInfo"]["hasNextPage"] is False  # a day in the past: empty

    # The home screen: each ranking edge's node is its restaurant; the list comes in
    # the order asked.
    home = next(r for r in results if "restaurants" in r)
    ranking = home["topRestaurants"]
    for row in ranking["edges"]:
        assert row["cursor"]
        assert isinstance(row["node"]["viewerHasFavorited"], bool)
    if ranking["edges"]:
        assert ranking["pageInfo"]["endCursor"] == ranking["edges"][-1]["cursor"]
    listed = home["restaurants"]
    assert [r["id"] for r in listed] == ["pizza-palace", "sushi-corner", "not-yet-favorited"]
    assert listed[2] == {"id": "not-yet-favorited", "favoriteCount": 0, "viewerHasFavorited": False}
    # A federation gateway's two fields.
    entities = next(r for r in results if "_entities" in r)
    assert 'type Restaurant implements Node @key(fields: "id")' in entities["_service"]["sdl"]
    assert entities["_entities"][0]["id"] == "pizza-palace"


def test_the_next_page_example_continues_the_ranking_after_a_cursor(stack: Stack):
    [next_page] = [
        text for block in blocks("graphql") for _, text in operations(block) if "$after" in text
    ]
    for fan in range(3):
        for restaurant in ("docs-page-a", "docs-page-b"):
            requests.post(
                f"{stack.api}/graphql",
                json={
                    "query": f'mutation {{ favorite(restaurantId: "{restaurant}") {{ changed }} }}'
                },
                headers={"Authorization": token(f"docs-fan-{fan}")},
                timeout=10,
            )
    with client(f"{stack.api}/public/graphql") as session:
        document = gql(next_page)

        # Counted by the stream worker within a second or so; then the ranking holds still.
        def counted() -> list[dict[str, Any]]:
            rows: list[dict[str, Any]] = session.execute(document)["topRestaurants"]["edges"]
            counts = {r["node"]["id"]: r["favoriteCount"] for r in rows}
            done = counts.get("docs-page-a") == counts.get("docs-page-b") == 3
            return rows if done else []

        first = wait_for(counted, what="the favorites to be ranked")
        after = session.execute(
            GraphQLRequest(next_page, variable_values={"after": first[0]["cursor"]})
        )
        last = session.execute(
            GraphQLRequest(next_page, variable_values={"after": first[-1]["cursor"]})
        )
    rest = after["topRestaurants"]["edges"]
    # The same ranking, one row on: ranks continue and nothing is repeated or skipped.
    assert [r["rank"] for r in rest][: len(first) - 1] == [r["rank"] for r in first[1:]]
    assert [r["node"]["id"] for r in rest][: len(first) - 1] == [r["node"]["id"] for r in first[1:]]
    # Fewer than 100 rows: the ranking ends within the page, and pageInfo says so.
    assert len(first) < 100
    assert after["topRestaurants"]["pageInfo"] == {
        "hasNextPage": False,
        "endCursor": rest[-1]["cursor"],
    }
    assert last["topRestaurants"] == {
        "edges": [],
        "pageInfo": {"hasNextPage": False, "endCursor": None},
    }


def test_the_curl_example_runs_and_its_token_works_in_a_graphql_client(stack: Stack):
    block = next(b for b in blocks("sh") if "curl" in b and "Authorization" in b)
    script = block.replace(DOCUMENTED_API, stack.api)
    output = subprocess.run(
        ["bash", "-euo", "pipefail", "-c", script + '\nprintf "\\n%s" "$TOKEN"'],
        check=True,
        capture_output=True,
        text=True,
        timeout=30,
    ).stdout
    *answers_text, documented_token = output.rsplit("\n", 1)
    decoder = json.JSONDecoder()
    answers, text = [], "".join(answers_text).strip()
    while text:
        answer, end = decoder.raw_decode(text)
        answers.append(answer)
        text = text[end:].strip()
    assert len(answers) == block.count("curl ")
    assert all("errors" not in answer for answer in answers), answers
    assert answers[0]["data"]["favorite"]["restaurant"] == {
        "id": "pizza-palace",
        "viewerHasFavorited": True,
    }
    assert isinstance(answers[1]["data"]["topRestaurants"]["edges"], list)

    # The same token and the same documents through a GraphQL client.
    headers = {"Authorization": documented_token}
    pattern = re.escape(stack.api) + r"(/\S*graphql) .*?-d '(\{.*?\})'"
    for url_path, payload in re.findall(pattern, script, re.DOTALL):
        query = json.loads(payload)["query"]
        transport = RequestsHTTPTransport(url=f"{stack.api}{url_path}", headers=headers)
        with Client(transport=transport, fetch_schema_from_transport=True) as session:
            session.execute(gql(query))
    viewer = requests.post(
        f"{stack.api}/graphql", json={"query": "{ viewer { id } }"}, headers=headers, timeout=10
    ).json()
    assert viewer == {"data": {"viewer": {"id": "viewer/demo-user"}}}


def test_graphiql_opens_in_a_browser_on_the_public_route(stack: Stack):
    page = requests.get(f"{stack.api}/public/graphql", headers={"Accept": "text/html"}, timeout=10)
    assert page.status_code == 200
    assert "graphiql" in page.text.lower()
