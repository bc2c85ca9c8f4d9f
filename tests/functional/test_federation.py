"""The API as an Apollo Federation 2 subgraph, through Chalice's test client on moto.

The gateway itself (a real one, from npm) is in tests/stack/test_federation.py.
"""

from __future__ import annotations

import json
from typing import Any

import pytest

from chalicelib.api.schema import subgraph_sdl
from tests.support import dynamodb_calls, error_codes, graphql, put_counts, put_favorites

ENTITIES = """
query E($representations: [_Any!]!) {
  _entities(representations: $representations) {
    ... on Restaurant { id favoriteCount viewerHasFavorited }
  }
}
"""


def representation(restaurant_id: Any) -> dict[str, Any]:
    return {"__typename": "Restaurant", "id": restaurant_id}


@pytest.mark.parametrize("public", [False, True])
def test_service_sdl_is_the_exported_subgraph_schema_on_both_routes(client, public):
    result = graphql(
        client, "{ _service { sdl } }", user=None if public else "alice", public=public
    )
    sdl = result["data"]["_service"]["sdl"]
    assert sdl + "\n" == subgraph_sdl()
    assert 'type Restaurant implements Node @key(fields: "id")' in sdl
    assert '@link(url: "https://specs.apollo.dev/federation/v2.' in sdl


def test_entities_resolve_restaurants_in_order_in_one_batch_per_kind(client, dynamodb):
    ids = [f"r{index:03d}" for index in range(100)]
    put_counts(dynamodb, "ALL", {r: index + 1 for index, r in enumerate(ids)})
    put_favorites(dynamodb, "alice", ids[::4])
    variables = {"representations": [representation(r) for r in ids]}
    with dynamodb_calls(dynamodb) as calls:
        result = graphql(client, ENTITIES, variables, user="alice")
    assert result["data"]["_entities"] == [
        {"id": r, "favoriteCount": index + 1, "viewerHasFavorited": index % 4 == 0}
        for index, r in enumerate(ids)
    ]
    # The counts in one batch; the hearts from the viewer's set in one Query.
    assert calls == {"BatchGetItem": 1, "Query": 1}


def test_entities_on_the_public_route_have_no_viewer(client, dynamodb):
    put_favorites(dynamodb, "alice", ["r1"])
    put_counts(dynamodb, "ALL", {"r1": 1})
    variables = {"representations": [representation("r1")]}
    with dynamodb_calls(dynamodb) as calls:
        result = graphql(client, ENTITIES, variables, public=True)
    assert result["data"]["_entities"] == [
        {"id": "r1", "favoriteCount": 1, "viewerHasFavorited": False}
    ]
    # The counts only: without an identity nobody's favorites are read.
    assert calls == {"BatchGetItem": 1}
    # A token sent to the public route changes nothing.
    response = client.http.post(
        "/public/graphql",
        headers={"Content-Type": "application/json", "Authorization": "x.eyJzdWIiOiJhbGljZSJ9.y"},
        body=json.dumps({"query": ENTITIES, "variables": variables}),
    )
    assert json.loads(response.body)["data"]["_entities"][0]["viewerHasFavorited"] is False


def test_entity_representations_that_are_not_restaurants_or_carry_bad_ids_are_bad_user_input(
    client, dynamodb
):
    put_counts(dynamodb, "ALL", {"r1": 3})
    bad = [
        ({"__typename": "Viewer", "id": "alice"}, "is not a Restaurant"),
        ({"id": "r1"}, "is not a Restaurant"),
        ("r1", "is not a Restaurant"),
        ([1, 2], "is not a Restaurant"),
        (representation("no spaces"), ".id must be 1 to 128 characters"),
        (representation("#EVENT#1"), ".id must be 1 to 128 characters"),
        (representation(42), ".id must be 1 to 128 characters"),
        (representation({"S": "r1"}), ".id must be 1 to 128 characters"),
        ({"__typename": "Restaurant"}, ".id must be 1 to 128 characters"),
    ]
    representations = [representation("r1")] + [value for value, _ in bad]
    result = graphql(client, ENTITIES, {"representations": representations}, user="alice")
    entities = result["data"]["_entities"]
    # The good one resolves; each bad one is null with its own error, at its own index.
    assert entities[0] == {"id": "r1", "favoriteCount": 3, "viewerHasFavorited": False}
    assert entities[1:] == [None] * len(bad)
    errors = sorted(result["errors"], key=lambda error: error["path"][1])
    assert [error["path"] for error in errors] == [["_entities", i + 1] for i in range(len(bad))]
    for error, (_, message) in zip(errors, bad, strict=True):
        assert error["extensions"]["code"] == "BAD_USER_INPUT"
        assert error["message"].startswith(f"representations[{error['path'][1]}]")
        assert message in error["message"]
    assert "Traceback" not in json.dumps(result)


def test_more_than_100_representations_are_bad_user_input(client, dynamodb):
    variables = {"representations": [representation(f"r{i}") for i in range(101)]}
    with dynamodb_calls(dynamodb) as calls:
        result = graphql(client, ENTITIES, variables, user="alice")
    assert error_codes(result) == ["BAD_USER_INPUT"]
    assert "at most 100 entities, got 101" in result["errors"][0]["message"]
    assert sum(calls.values()) == 0


def test_where_introspection_is_off_service_sdl_is_too_but_entities_work(client, dynamodb, serve):
    serve(STAGE="prod")
    put_counts(dynamodb, "ALL", {"r1": 2})
    refused = graphql(client, "{ _service { sdl } }", public=True)
    assert error_codes(refused) == ["GRAPHQL_VALIDATION_FAILED"]
    assert "sdl" not in json.dumps(refused.get("data") or {})
    entities = graphql(client, ENTITIES, {"representations": [representation("r1")]}, public=True)
    assert entities["data"]["_entities"] == [
        {"id": "r1", "favoriteCount": 2, "viewerHasFavorited": False}
    ]
