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
from gql import Client, gql
from gql.transport.requests import RequestsHTTPTransport
from graphql import OperationDefinitionNode, parse, print_ast

from local.tokens import token
from tests.stack.conftest import ROOT, Stack

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
    # The first example favorites, the second takes it back: both change something.
    assert results[0]["favorite"] == {
        "restaurantId": "pizza-palace",
        "isFavorite": True,
        "changed": True,
    }
    assert results[1]["unfavorite"] == {
        "restaurantId": "pizza-palace",
        "isFavorite": False,
        "changed": True,
    }
    query = next(r for r in results if "viewer" in r)
    assert query["viewer"]["id"] == user
    assert query["restaurant"]["viewerHasFavorited"] is False


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
    assert "changed" in answers[0]["data"]["favorite"]
    assert isinstance(answers[1]["data"]["topRestaurants"], list)

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
    assert viewer == {"data": {"viewer": {"id": "demo-user"}}}


def test_graphiql_opens_in_a_browser_on_the_public_route(stack: Stack):
    page = requests.get(f"{stack.api}/public/graphql", headers={"Accept": "text/html"}, timeout=10)
    assert page.status_code == 200
    assert "graphiql" in page.text.lower()
