"""What each function loads and builds per container."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from typing import Any

import pytest

from chalicelib.api import schema as schema_module
from infra.stages import ROOT
from tests.support import error_codes, graphql

STREAM_COLD_START = textwrap.dedent(
    """
    import json, sys
    from moto import mock_aws
    # What moto itself loads is not the handler's doing.
    before = set(sys.modules)
    with mock_aws():
        from chalicelib import aws
        from chalicelib.settings import from_environment
        from infra.tables import TableNames, ensure_tables
        from tests.support import stream_event, stream_record
        client = aws.dynamodb(from_environment())
        ensure_tables(client, TableNames("favorites-test", "favorite-counts-test"))
        import app
        event = stream_event([stream_record("INSERT", "r1", "u1", "2026-11-23T10:00:00.000Z")])
        answer = app.aggregate_favorites(event, None)
        stored = client.get_item(
            TableName="favorite-counts-test",
            Key={"restaurant_id": {"S": "r1"}, "bucket": {"S": "ALL"}},
        )["Item"]["favorite_count"]["N"]
    loaded = sorted(m for m in set(sys.modules) - before if m.split(".")[0] in
                    ("strawberry", "graphql", "chalicelib"))
    print(json.dumps({"answer": answer, "stored": stored, "loaded": loaded}))
    """
)


def test_stream_handler_cold_path_never_loads_graphql():
    env = {key: value for key, value in os.environ.items() if key != "PYTHONPATH"}
    result = subprocess.run(
        [sys.executable, "-c", STREAM_COLD_START],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout.splitlines()[-1])
    assert report["answer"] == {"batchItemFailures": []}
    assert report["stored"] == "1"  # the batch really ran
    assert "chalicelib.stream.handler" in report["loaded"]
    assert not [m for m in report["loaded"] if m.split(".")[0] in ("strawberry", "graphql")]
    assert "chalicelib.api.schema" not in report["loaded"]
    # Nor the other functions' modules: the API's stores, the reconciliation, the erasure.
    others = ("api", "documents", "erasure", "favorites", "rankings", "reconcile")
    assert [m for m in report["loaded"] if m.split(".")[1:2] in ([o] for o in others)] == []


def test_graphql_schema_is_built_once_per_container(client, dynamodb, monkeypatch):
    built: list[bool] = []
    real = schema_module.build_schema

    def counting(**options: Any) -> Any:
        built.append(options["introspection"])
        return real(**options)

    monkeypatch.setattr(schema_module, "build_schema", counting)
    for _ in range(3):
        graphql(client, "{ topRestaurants { edges { rank } } }", public=True)
        graphql(client, 'mutation { favorite(restaurantId: "r1") { changed } }', user="u1")
    assert len(built) == 1


INTROSPECTION = "{ __schema { queryType { name } } }"


@pytest.mark.parametrize(("stage", "allowed"), [("dev", True), ("prod", False)])
def test_introspection_and_graphiql_follow_the_stage(client, serve, stage, allowed):
    from infra.stages import stage as stage_config

    flag = stage_config(stage).environment["GRAPHIQL_ENABLED"]
    serve(STAGE=stage, GRAPHIQL_ENABLED=flag)
    result = graphql(client, INTROSPECTION, public=True)
    page = client.http.get("/public/graphql", headers={"Accept": "text/html"})
    if allowed:
        assert result["data"]["__schema"]["queryType"]["name"] == "Query"
        assert page.status_code == 200
        assert b"graphiql" in page.body.lower()
    else:
        assert result.get("data") is None
        assert error_codes(result)
        assert "introspection" in result["errors"][0]["message"].lower()
        assert b"graphiql" not in page.body.lower()
        # Ordinary queries still work in prod.
        assert "errors" not in graphql(client, "{ topRestaurants { edges { rank } } }", public=True)
