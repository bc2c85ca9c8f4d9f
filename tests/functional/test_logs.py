"""What the deployed functions write to CloudWatch Logs: one JSON object per
line, and never a token or a secret, even when a request fails."""

from __future__ import annotations

import io
import json
from typing import Any

import pytest

from local.tokens import token
from tests.support import stream_event, stream_record

SECRET = "cursor-secret-that-must-never-be-logged-0123456789"


def test_no_token_or_secret_reaches_a_log_line(
    client: Any,
    serve: Any,
    lambda_logging: io.StringIO,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    services = serve(CURSOR_SECRET=SECRET)
    bearer = token("alice")
    headers = {"Content-Type": "application/json", "Authorization": bearer}

    def post(query: str, variables: dict[str, Any] | None = None) -> Any:
        body = json.dumps({"query": query, "variables": variables or {}})
        return client.http.post("/graphql", headers=headers, body=body)

    for n in range(3):
        post("mutation F($id: ID!) { favorite(restaurantId: $id) { changed } }", {"id": f"r{n}"})
    page = json.loads(post("{ viewer { favorites(first: 1) { pageInfo { endCursor } } } }").body)
    assert page["data"]["viewer"]["favorites"]["pageInfo"]["endCursor"]  # the secret signed it
    post('{ restaurant(id: "r0") { favoriteCount(period: "not-a-period") } }')  # user error
    post("{ nosuchfield }")  # invalid document

    def broken(*_: Any, **__: Any) -> Any:
        raise RuntimeError("store down")

    monkeypatch.setattr(services.rankings(), "top_page", broken)
    assert post("{ topRestaurants { edges { node { id } } } }").status_code in (200, 500)
    client.lambda_.invoke(
        "aggregate_favorites", stream_event([stream_record("INSERT"), stream_record("REMOVE")])
    )

    lines = lambda_logging.getvalue().splitlines()
    assert len(lines) >= 3  # the errors and the batch at least
    parsed = [json.loads(line) for line in lines]  # every line is one JSON object
    assert any(line["message"] == "favorites stream batch" for line in parsed)
    output = lambda_logging.getvalue()
    assert bearer not in output
    assert bearer.split(".")[1] not in output  # not even the claims part
    assert SECRET not in output
    assert "Authorization" not in output
