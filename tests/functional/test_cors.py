"""CORS for a list of origins, answered by the service itself on both routes."""

from __future__ import annotations

import json

import pytest

from chalicelib import cors
from chalicelib.settings import SettingsError, from_env

LISTED = ("https://app.example.com", "http://localhost:5173")  # tests/conftest.py
ROUTES = ["/graphql", "/public/graphql"]
CLIENT_HEADERS = "authorization,content-type,apollographql-client-name,apollographql-client-version"


def preflight(client, route: str, origin: str):
    return client.http.options(
        route,
        headers={
            "Origin": origin,
            "Access-Control-Request-Method": "POST",
            "Access-Control-Request-Headers": CLIENT_HEADERS,
        },
    )


@pytest.mark.parametrize("route", ROUTES)
@pytest.mark.parametrize("origin", LISTED)
def test_a_preflight_from_a_listed_origin_allows_what_the_clients_send(client, route, origin):
    response = preflight(client, route, origin)
    assert response.status_code == 204
    headers = {name.lower(): value for name, value in response.headers.items()}
    assert headers["access-control-allow-origin"] == origin
    assert headers["vary"] == "Origin"
    assert headers["access-control-max-age"] == "7200"
    allowed = {name.strip().lower() for name in headers["access-control-allow-headers"].split(",")}
    assert set(CLIENT_HEADERS.split(",")) <= allowed
    assert {"GET", "POST"} <= set(headers["access-control-allow-methods"].split(","))


@pytest.mark.parametrize("route", ROUTES)
@pytest.mark.parametrize("origin", ["https://evil.example", "https://app.example.com.evil.example"])
def test_an_unlisted_origin_gets_no_permission(client, route, origin):
    response = preflight(client, route, origin)
    headers = {name.lower() for name in response.headers}
    assert "access-control-allow-origin" not in headers
    assert "access-control-allow-headers" not in headers
    answer = client.http.post(
        route,
        headers={"Origin": origin, "Content-Type": "application/json"},
        body=json.dumps({"query": "{ topRestaurants { edges { rank } } }"}),
    )
    assert "access-control-allow-origin" not in {name.lower() for name in answer.headers}


@pytest.mark.parametrize("method", ["GET", "POST"])
def test_a_response_names_the_listed_origin_and_varies_on_it(client, dynamodb, method):
    origin = LISTED[1]
    query = "{ topRestaurants { edges { rank } } }"
    if method == "GET":
        response = client.http.get(
            f"/public/graphql?query={query.replace(' ', '%20')}", headers={"Origin": origin}
        )
    else:
        response = client.http.post(
            "/public/graphql",
            headers={"Origin": origin, "Content-Type": "application/json"},
            body=json.dumps({"query": query}),
        )
    assert response.status_code == 200
    assert response.headers["Access-Control-Allow-Origin"] == origin
    assert response.headers["Vary"] == "Accept, Origin"


def test_the_origin_list_is_checked_when_settings_load():
    settings = from_env({"CORS_ALLOW_ORIGINS": " https://a.example , http://localhost:5173,"})
    assert settings.cors_allow_origins == ("https://a.example", "http://localhost:5173")
    assert from_env({}).cors_allow_origins == ()
    for bad in ("*", "https://a.example/path", "a.example", "https://a.example,*"):
        with pytest.raises(SettingsError, match="CORS_ALLOW_ORIGINS"):
            from_env({"CORS_ALLOW_ORIGINS": bad})


def test_no_origin_listed_means_no_cors_headers_at_all():
    assert cors.preflight_headers({"Origin": LISTED[0]}, ()) == {}
    assert cors.response_headers_for({"Origin": LISTED[0]}, ()) == {}
