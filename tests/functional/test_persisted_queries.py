"""Apollo's automatic persisted queries on both routes, and trusted documents."""

from __future__ import annotations

import hashlib
import json
from urllib.parse import urlencode

import pytest

from tests.support import DOCUMENTS_TABLE, error_codes, put_counts

QUERY = "query Top { topRestaurants(first: 2) { edges { rank node { id } } } }"
HASH = hashlib.sha256(QUERY.encode()).hexdigest()
ROUTES = ["/public/graphql", "/graphql"]


def extensions(sha256: str = HASH) -> dict[str, object]:
    return {"persistedQuery": {"version": 1, "sha256Hash": sha256}}


def get(client, route: str, accept: str = "*/*", **params: object):
    query = urlencode({k: json.dumps(v) if isinstance(v, dict) else v for k, v in params.items()})
    response = client.http.get(f"{route}?{query}", headers={"Accept": accept})
    return response, json.loads(response.body) if response.body else None


def post(client, route: str, body: dict[str, object]):
    response = client.http.post(
        route, headers={"Content-Type": "application/json"}, body=json.dumps(body)
    )
    return response, json.loads(response.body)


@pytest.fixture
def ranked(dynamodb):
    put_counts(dynamodb, "ALL", {"r1": 3, "r2": 2})
    return dynamodb


@pytest.mark.parametrize("route", ROUTES)
def test_an_unknown_hash_is_persisted_query_not_found_then_the_document_registers_it(
    client, ranked, route
):
    for response, body in (
        get(client, route, extensions=extensions()),
        post(client, route, {"extensions": extensions()}),
    ):
        assert response.status_code == 200
        # The exact message and code the stock Apollo link and urql exchange look for.
        assert body["errors"][0]["message"] == "PersistedQueryNotFound"
        assert error_codes(body) == ["PERSISTED_QUERY_NOT_FOUND"]
    response, body = post(client, route, {"query": QUERY, "extensions": extensions()})
    assert body == {
        "data": {
            "topRestaurants": {
                "edges": [{"rank": 1, "node": {"id": "r1"}}, {"rank": 2, "node": {"id": "r2"}}]
            }
        }
    }
    for _response, again in (
        get(client, route, extensions=extensions()),
        post(client, route, {"extensions": extensions()}),
    ):
        assert again == body


def test_a_document_registered_with_one_instance_serves_every_other(client, ranked):
    post(client, "/public/graphql", {"query": QUERY, "extensions": extensions()})
    item = ranked.get_item(TableName=DOCUMENTS_TABLE, Key={"document_hash": {"S": HASH}})["Item"]
    assert item["document"]["S"] == QUERY
    assert int(item["expires_at"]["N"]) > 0
    # Another container: a store with an empty in-process cache finds it in the table.
    from chalicelib.documents import DocumentStore

    assert DocumentStore(ranked, DOCUMENTS_TABLE).get(HASH) == QUERY


def test_a_query_that_does_not_match_its_hash_is_refused_and_not_stored(client, ranked):
    wrong = "0" * 64
    _response, body = post(
        client, "/public/graphql", {"query": QUERY, "extensions": extensions(wrong)}
    )
    assert error_codes(body) == ["BAD_USER_INPUT"]
    assert "does not hash" in body["errors"][0]["message"]
    assert "data" not in body or body["data"] is None
    assert "Item" not in ranked.get_item(
        TableName=DOCUMENTS_TABLE, Key={"document_hash": {"S": wrong}}
    )
    _, body = get(client, "/public/graphql", extensions=extensions(wrong))
    assert error_codes(body) == ["PERSISTED_QUERY_NOT_FOUND"]


@pytest.mark.parametrize(
    "persisted",
    [{"version": 2, "sha256Hash": HASH}, {"version": 1, "sha256Hash": "XYZ"}, "not an object"],
)
def test_a_malformed_persisted_query_extension_says_what_is_wrong(client, ranked, persisted):
    _, body = post(client, "/public/graphql", {"extensions": {"persistedQuery": persisted}})
    assert error_codes(body) == ["BAD_USER_INPUT"]
    assert "persistedQuery" in body["errors"][0]["message"]


def test_a_document_over_the_limits_is_not_stored_and_a_stored_one_still_meets_them(client, ranked):
    "{ " + "viewer { favorites { edges { node { id " + "} } } }" * 1 + " }"
    nested = "query N { " + "a: topRestaurants { edges { node { id } } } " * 20 + "}"
    for document in (nested,):
        sha256 = hashlib.sha256(document.encode()).hexdigest()
        _, body = post(
            client, "/public/graphql", {"query": document, "extensions": extensions(sha256)}
        )
        assert error_codes(body) == ["GRAPHQL_VALIDATION_FAILED"]  # too many aliases
        assert "Item" not in ranked.get_item(
            TableName=DOCUMENTS_TABLE, Key={"document_hash": {"S": sha256}}
        )
    # A document put in the table by other means is held to the limits when it runs.
    ranked.put_item(
        TableName=DOCUMENTS_TABLE,
        Item={
            "document_hash": {"S": sha256},
            "document": {"S": nested},
            "expires_at": {"N": "99999999999"},
        },
    )
    _, body = get(client, "/public/graphql", extensions=extensions(sha256))
    assert error_codes(body) == ["GRAPHQL_VALIDATION_FAILED"]
    assert "aliases" in body["errors"][0]["message"]


def test_graphiql_only_for_a_browser_asking_for_a_page(client, ranked):
    page = client.http.get("/public/graphql", headers={"Accept": "text/html"})
    assert page.status_code == 200
    assert page.headers["Content-Type"].startswith("text/html")
    # A hash-only GET with Accept: */* is a client's, not a browser's.
    response, body = get(client, "/public/graphql", accept="*/*", extensions=extensions())
    assert response.headers["Content-Type"].startswith("application/json")
    assert error_codes(body) == ["PERSISTED_QUERY_NOT_FOUND"]
    # A page cannot answer a hash: not GraphiQL, and not a media type this API speaks.
    response, body = get(client, "/public/graphql", accept="text/html", extensions=extensions())
    assert response.status_code == 406
    assert error_codes(body) == ["NOT_ACCEPTABLE"]


@pytest.fixture
def trusted(serve, tmp_path):
    manifest = tmp_path / "manifest.json"
    manifest.write_text(
        json.dumps(
            {
                "format": "apollo-persisted-query-manifest",
                "version": 1,
                "operations": [{"id": HASH, "name": "Top", "type": "query", "body": QUERY}],
            }
        )
    )
    serve(TRUSTED_DOCUMENTS_ONLY="true", TRUSTED_DOCUMENTS_MANIFEST=str(manifest))


@pytest.mark.parametrize("route", ROUTES)
def test_trusted_documents_run_only_the_manifest(trusted, client, ranked, route):
    _, by_hash = get(client, route, extensions=extensions())
    assert by_hash["data"]["topRestaurants"]["edges"][0]["node"] == {"id": "r1"}
    _, whole = post(client, route, {"query": QUERY})
    assert whole == by_hash
    other = "{ topRestaurants(first: 1) { edges { rank } } }"
    for _, body in (
        post(client, route, {"query": other}),
        post(
            client,
            route,
            {"query": other, "extensions": extensions(hashlib.sha256(other.encode()).hexdigest())},
        ),
        get(client, route, extensions=extensions("1" * 64)),
    ):
        assert error_codes(body) == ["PERSISTED_QUERY_NOT_IN_LIST"]
    # Nothing a client sends is stored in this mode.
    assert "Item" not in ranked.get_item(
        TableName=DOCUMENTS_TABLE,
        Key={"document_hash": {"S": hashlib.sha256(other.encode()).hexdigest()}},
    )


def test_a_manifest_whose_ids_do_not_hash_their_bodies_is_refused(tmp_path):
    from chalicelib.api.persisted import load_manifest

    path = tmp_path / "bad.json"
    path.write_text(
        json.dumps(
            {
                "format": "apollo-persisted-query-manifest",
                "version": 1,
                "operations": [{"id": "0" * 64, "name": "X", "type": "query", "body": QUERY}],
            }
        )
    )
    with pytest.raises(ValueError, match="does not hash"):
        load_manifest(path)
