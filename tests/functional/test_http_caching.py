"""Cache-Control from the schema's hints, ETags and 304s, on GET answers."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from urllib.parse import urlencode

import pytest

from local.tokens import token
from tests.support import put_counts, put_favorites

PUBLIC = "public, max-age=5, stale-while-revalidate=30, stale-if-error=300"


def get(client, query: str, *, route: str = "/public/graphql", user: str | None = None, **headers):
    if user is not None:
        headers["Authorization"] = token(user)
    return client.http.get(f"{route}?{urlencode({'query': query})}", headers=headers)


@pytest.fixture
def ranked(dynamodb):
    put_counts(dynamodb, "ALL", {"r1": 3, "r2": 2})
    put_favorites(dynamodb, "alice", ["r1"])
    return dynamodb


def test_a_public_ranking_is_cacheable_with_an_etag_and_a_304_on_a_match(client, ranked):
    query = "{ topRestaurants { edges { rank favoriteCount node { id favoriteCount } } } }"
    response = get(client, query)
    assert response.status_code == 200
    assert response.headers["Cache-Control"] == PUBLIC
    etag = response.headers["ETag"]
    assert etag[0] == etag[-1] == '"'
    again = get(client, query, **{"If-None-Match": etag})
    assert again.status_code == 304
    assert again.body in (b"", "")
    assert again.headers["ETag"] == etag
    assert again.headers["Cache-Control"] == PUBLIC
    # A changed answer has another tag: the old one no longer matches.
    put_counts(ranked, "ALL", {"r3": 9})
    changed = get(client, query, **{"If-None-Match": etag})
    assert changed.status_code == 200
    assert changed.headers["ETag"] != etag
    listed = f'"other", W/{changed.headers["ETag"]}'
    assert get(client, query, **{"If-None-Match": listed}).status_code == 304


def test_a_past_period_may_be_cached_longer_than_the_current_one(client, ranked):
    past = '{ topRestaurants(window: MONTH, period: "2025-01") { edges { rank } } }'
    assert get(client, past).headers["Cache-Control"].startswith("public, max-age=300,")
    month = datetime.now(UTC).strftime("%Y-%m")
    current = f'{{ topRestaurants(window: MONTH, period: "{month}") {{ edges {{ rank }} }} }}'
    assert get(client, current).headers["Cache-Control"].startswith("public, max-age=5,")
    # The most restrictive field wins: a past ranking with a current count is short-lived.
    mixed = (
        '{ topRestaurants(window: MONTH, period: "2025-01") { edges { node { favoriteCount } } } }'
    )
    assert get(client, mixed).headers["Cache-Control"].startswith("public, max-age=5,")
    # Variables count as well as literals.
    response = client.http.get(
        "/public/graphql?"
        + urlencode(
            {
                "query": "query P($p: String)"
                " { topRestaurants(window: DAY, period: $p) { edges { rank } } }",
                "variables": json.dumps({"p": "2025-01-31"}),
            }
        )
    )
    assert response.headers["Cache-Control"].startswith("public, max-age=300,")


@pytest.mark.parametrize(
    "query",
    [
        "{ topRestaurants { edges { node { id viewerHasFavorited } } } }",
        "{ viewer { id } }",
        '{ node(id: "viewer/alice") { id } }',
        "{ viewer { favorites { edges { node { id } } } } }",
        'fragment F on Restaurant { viewerHasFavorited } { restaurants(ids: ["r1"]) { ...F } }',
    ],
)
def test_anything_that_depends_on_the_viewer_is_never_stored(client, ranked, query):
    for route, user in (("/public/graphql", None), ("/graphql", "alice")):
        response = get(client, query, route=route, user=user)
        assert response.status_code == 200, response.body
        assert response.headers["Cache-Control"] == "private, no-store"
        assert "ETag" not in response.headers


def test_errors_posts_and_mutations_are_never_stored(client, ranked):
    bad = get(client, '{ topRestaurants(window: MONTH, period: "nope") { edges { rank } } }')
    assert json.loads(bad.body)["errors"]
    assert bad.headers["Cache-Control"] == "private, no-store"
    posted = client.http.post(
        "/public/graphql",
        headers={"Content-Type": "application/json"},
        body=json.dumps({"query": "{ topRestaurants { edges { rank } } }"}),
    )
    assert posted.headers["Cache-Control"] == "private, no-store"
    mutation = client.http.post(
        "/graphql",
        headers={"Content-Type": "application/json", "Authorization": token("alice")},
        body=json.dumps({"query": 'mutation { favorite(restaurantId: "r2") { changed } }'}),
    )
    assert mutation.headers["Cache-Control"] == "private, no-store"


def test_vary_names_what_changes_the_answer(client, ranked):
    query = "{ topRestaurants { edges { rank } } }"
    assert get(client, query).headers["Vary"] == "Accept, Origin"
    signed_in = get(client, query, route="/graphql", user="alice")
    # The signed-in route's answer may depend on the token: caches key on it.
    assert signed_in.headers["Vary"] == "Accept, Authorization, Origin"
    assert signed_in.headers["Cache-Control"] == PUBLIC


def test_the_subgraphs_entities_carry_the_same_headers(client, ranked):
    query = (
        '{ _entities(representations: [{__typename: "Restaurant", id: "r1"}])'
        " { ... on Restaurant { favoriteCount } } }"
    )
    response = get(client, query)
    assert json.loads(response.body)["data"]["_entities"] == [{"favoriteCount": 3}]
    assert response.headers["Cache-Control"] == PUBLIC
    assert "ETag" in response.headers
