"""A document seen before is not parsed and validated again, and still meets every limit."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from tests.support import error_codes, graphql

TOP = "{ topRestaurants(first: 3) { edges { rank node { id } } } }"


@pytest.fixture
def calls(monkeypatch) -> Iterator[dict[str, int]]:
    """Count every parse and validation, the caches' and strawberry's own."""
    import strawberry.schema.schema as strawberry_schema
    from graphql import parse as graphql_parse
    from graphql import validate as graphql_validate

    from chalicelib.api import limits

    limits.parse_document.cache_clear()
    counted = {"parse": 0, "validate": 0}

    def counting(name: str, function: Callable[..., Any]) -> Callable[..., Any]:
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            counted[name] += 1
            return function(*args, **kwargs)

        return wrapper

    # Where each module looks the functions up: the caches' module and strawberry's.
    for module in (limits, strawberry_schema):
        monkeypatch.setattr(module, "parse", counting("parse", graphql_parse))
        monkeypatch.setattr(
            module,
            "validate_document",
            counting("validate", strawberry_schema.validate_document),
        )
    monkeypatch.setattr(limits, "validate", counting("validate", graphql_validate))
    yield counted
    limits.parse_document.cache_clear()


def test_a_document_seen_before_is_neither_parsed_nor_validated_again(client, calls):
    first = graphql(client, TOP, public=True)
    assert calls == {"parse": 1, "validate": 2}  # the literal check, then the rest
    for _ in range(3):
        assert graphql(client, TOP, public=True) == first
    assert calls == {"parse": 1, "validate": 2}
    # The same text on the other route, from another user: still the same document.
    assert "errors" not in graphql(client, TOP, user="alice")
    assert calls == {"parse": 1, "validate": 2}


def test_a_cached_document_still_meets_every_limit_on_every_request(client, calls):
    sixteen = (
        "{" + " ".join(f"a{i}: topRestaurants {{ edges {{ rank }} }}" for i in range(16)) + "}"
    )
    huge_literal = "{ topRestaurants(first: %s) { edges { rank } } }" % ("9" * 200)
    for _ in range(3):
        aliases = graphql(client, sixteen, public=True)
        assert aliases["data"] is None
        assert aliases["errors"][0]["message"] == "16 aliases found. Allowed: 15"
        assert error_codes(aliases) == ["GRAPHQL_VALIDATION_FAILED"]
        literal = graphql(client, huge_literal, public=True)
        assert error_codes(literal) == ["GRAPHQL_VALIDATION_FAILED"]
        assert "An integer literal has 200 digits" in literal["errors"][0]["message"]
    assert calls["parse"] == 2


def test_documents_that_do_not_parse_are_refused_every_time(client, calls):
    bomb = "{" + " topRestaurants { edges { rank } }" * 300 + "}"
    for _ in range(2):
        result = graphql(client, bomb, public=True)
        assert "more than 1000 tokens" in result["errors"][0]["message"]
        assert error_codes(result) == ["GRAPHQL_PARSE_FAILED"]
        assert error_codes(graphql(client, "{ viewer {", public=True)) == ["GRAPHQL_PARSE_FAILED"]


def test_a_lower_token_limit_is_not_bypassed_by_a_document_parsed_under_a_higher_one(client, serve):
    ten = "{" + " ".join(f"a{i}: topRestaurants {{ edges {{ rank }} }}" for i in range(10)) + "}"
    assert "errors" not in graphql(client, ten, public=True)
    serve(GRAPHQL_MAX_TOKENS="50")
    result = graphql(client, ten, public=True)
    assert "more than 50 tokens" in result["errors"][0]["message"]
    assert error_codes(result) == ["GRAPHQL_PARSE_FAILED"]


def test_a_document_validated_for_one_schema_is_validated_again_for_another(client, serve):
    introspection = "{ __schema { queryType { name } } }"
    assert graphql(client, introspection, public=True)["data"] == {
        "__schema": {"queryType": {"name": "Query"}}
    }
    serve(STAGE="prod")
    for _ in range(2):
        result = graphql(client, introspection, public=True)
        assert "introspection has been disabled" in result["errors"][0]["message"]
        hinted = graphql(client, "{ viewr { id } }", public=True)
        assert error_codes(hinted) == ["GRAPHQL_VALIDATION_FAILED"]
        assert "Did you mean" not in json.dumps(hinted)
