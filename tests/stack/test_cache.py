"""The local stack's HTTP cache (nginx, ``local/cache.conf``) keeps the edge's rules.

First against a stand-in origin that answers with ``Cache-Control`` and an
``ETag`` and counts what reaches it, so the rules are proven whatever the API
sends; then through the running stack, in front of the real API.
"""

from __future__ import annotations

import contextlib
import json
import math
import re
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
import uuid
from collections.abc import Iterable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from socketserver import ThreadingMixIn
from typing import TYPE_CHECKING, Any
from wsgiref.simple_server import WSGIRequestHandler, WSGIServer, make_server

import pytest

from local import processes
from local.cache import Cache, find_nginx
from local.dynamodb_local import free_port
from local.tokens import token
from tests.stack.conftest import Stack, current, post, wait_for
from tests.support import skip_unless_ci

if TYPE_CHECKING:
    from _typeshed.wsgi import StartResponse, WSGIEnvironment

pytestmark = pytest.mark.integration


@dataclass
class Answer:
    """How the stand-in origin answers one key (the ``k`` query parameter)."""

    cache_control: str | None = None
    version: int = 1
    delay: float = 0.0


@dataclass(frozen=True)
class Seen:
    """One request as it reached the origin."""

    method: str
    path: str
    key: str
    headers: dict[str, str] = field(default_factory=dict)


class StandInOrigin:
    """A WSGI origin that answers ``/public/graphql`` as the API will once it
    sends ``Cache-Control`` (with an ``ETag`` and 304s), and records every request.

    ``/graphql`` answers ``public, max-age=60`` on purpose: a careless origin
    that the cache must still never cache for a signed-in request.
    """

    def __init__(self) -> None:
        self.answers: dict[str, Answer] = {}
        self.seen: list[Seen] = []
        self._lock = threading.Lock()

    def __call__(self, environ: WSGIEnvironment, start_response: StartResponse) -> Iterable[bytes]:
        query = urllib.parse.parse_qs(str(environ.get("QUERY_STRING", "")))
        key = query.get("k", [""])[0]
        path = str(environ.get("PATH_INFO", ""))
        headers = {
            name[5:].replace("_", "-").title(): str(value)
            for name, value in environ.items()
            if name.startswith("HTTP_")
        }
        with self._lock:
            self.seen.append(Seen(str(environ["REQUEST_METHOD"]), path, key, headers))
            answer = self.answers.setdefault(key, Answer())
        time.sleep(answer.delay)
        if path == "/graphql":
            echoed = json.dumps({"authorization": headers.get("Authorization")}).encode()
            start_response(
                "200 OK",
                [("Content-Type", "application/json"), ("Cache-Control", "public, max-age=60")],
            )
            return [echoed]
        etag = f'"v{answer.version}"'
        response = [("Content-Type", "application/json"), ("ETag", etag)]
        if answer.cache_control is not None:
            response.append(("Cache-Control", answer.cache_control))
        if headers.get("If-None-Match") == etag:
            start_response("304 Not Modified", response)
            return [b""]
        body: dict[str, Any] = {
            "version": answer.version,
            "accept": headers.get("Accept"),
            "origin": headers.get("Origin"),
            "authorization": headers.get("Authorization"),
        }
        start_response("200 OK", response)
        return [json.dumps(body).encode()]

    def requests_for(self, key: str) -> list[Seen]:
        with self._lock:
            return [seen for seen in self.seen if seen.key == key]


class _ThreadingServer(ThreadingMixIn, WSGIServer):
    daemon_threads = True


class _QuietHandler(WSGIRequestHandler):
    def log_message(self, format: str, *args: Any) -> None:
        pass


@dataclass(frozen=True)
class Edge:
    origin: StandInOrigin
    server: WSGIServer
    url: str
    cache: Cache


@contextlib.contextmanager
def running_edge(folder: Path) -> Iterator[Edge]:
    """nginx on the stack's configuration, in front of a stand-in origin."""
    nginx = find_nginx()
    if nginx is None:
        skip_unless_ci("nginx is not installed (apt-get install nginx)", "nginx is required")
    origin = StandInOrigin()
    server = make_server(
        "127.0.0.1", 0, origin, server_class=_ThreadingServer, handler_class=_QuietHandler
    )
    threading.Thread(target=server.serve_forever, daemon=True).start()
    cache = Cache(nginx, folder, free_port(), f"127.0.0.1:{server.server_port}")
    cache.prepare()
    process = processes.spawn(cache.command(), cwd=folder)
    try:
        wait_for(lambda: processes.listens(process.pid, cache.port), 10, "nginx listening")
        yield Edge(origin, server, cache.url, cache)
    finally:
        processes.stop(process)
        server.shutdown()
        server.server_close()
    assert process.returncode == 0, cache.error_log.read_text()


@pytest.fixture(scope="module")
def edge(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Edge]:
    with running_edge(tmp_path_factory.mktemp("cache")) as running:
        yield running


@dataclass(frozen=True)
class Reply:
    status: int
    headers: dict[str, str]
    body: bytes

    def json(self) -> dict[str, Any]:
        return dict(json.loads(self.body))

    @property
    def cache_status(self) -> str:
        return self.headers.get("X-Cache-Status", "")


# nginx counts whole seconds: an answer with max-age=1 may still be fresh 1.9 s later.
EXPIRED = 2.2


def fetch(url: str, headers: dict[str, str] | None = None, *, data: bytes | None = None) -> Reply:
    request = urllib.request.Request(url, data=data, headers=headers or {})
    try:
        with urllib.request.urlopen(request, timeout=15) as response:
            return Reply(response.status, dict(response.headers), response.read())
    except urllib.error.HTTPError as error:
        return Reply(error.code, dict(error.headers), error.read())


def public(edge: Edge, key: str) -> str:
    return f"{edge.url}/public/graphql?k={key}&query=%7Btop%7D"


def new_key(edge: Edge, answer: Answer) -> str:
    key = uuid.uuid4().hex[:12]
    edge.origin.answers[key] = answer
    return key


def test_a_thousand_identical_gets_in_ten_seconds_reach_the_origin_once_per_max_age(edge: Edge):
    max_age = 2
    answer = Answer(f"public, max-age={max_age}, stale-while-revalidate=10, stale-if-error=60")
    key = new_key(edge, answer)
    url = public(edge, key)
    started = time.monotonic()

    def client(n: int) -> list[Reply]:
        # 20 clients, 50 requests each, spread over ten seconds.
        replies = []
        for i in range(50):
            time.sleep(max(0.0, started + i * 0.2 + n * 0.01 - time.monotonic()))
            replies.append(fetch(url))
        return replies

    with ThreadPoolExecutor(20) as pool:
        replies = [reply for batch in pool.map(client, range(20)) for reply in batch]
    elapsed = time.monotonic() - started
    assert len(replies) == 1000
    assert {reply.status for reply in replies} == {200}
    assert {reply.json()["version"] for reply in replies} == {1}
    reached = edge.origin.requests_for(key)
    # One request per max-age period, the first fill included; after the first,
    # each is a revalidation with the ETag (answered 304).
    assert len(reached) <= math.ceil(elapsed / max_age) + 1, (len(reached), elapsed)
    assert all(seen.headers.get("If-None-Match") == '"v1"' for seen in reached[1:])
    # Honoured, not cached forever: it did ask again after max-age.
    assert len(reached) >= 2


def test_a_burst_on_a_missing_entry_makes_one_origin_request(edge: Edge):
    key = new_key(edge, Answer("public, max-age=30", delay=0.5))
    barrier = threading.Barrier(50)

    def client(_: int) -> Reply:
        barrier.wait()
        return fetch(public(edge, key))

    with ThreadPoolExecutor(50) as pool:
        replies = list(pool.map(client, range(50)))
    assert {reply.status for reply in replies} == {200}
    assert len(edge.origin.requests_for(key)) == 1


@pytest.mark.parametrize(
    "cache_control", [None, "private, max-age=60", "no-store", "no-cache", "public, max-age=0"]
)
def test_an_answer_the_origin_does_not_make_public_is_not_kept(
    edge: Edge, cache_control: str | None
):
    key = new_key(edge, Answer(cache_control))
    replies = [fetch(public(edge, key)) for _ in range(5)]
    assert {reply.status for reply in replies} == {200}
    assert len(edge.origin.requests_for(key)) == 5
    assert "HIT" not in {reply.cache_status for reply in replies}


def test_signed_in_requests_are_never_cached_and_keep_their_token(edge: Edge):
    # The origin calls its /graphql answers public for a minute; the cache must not care.
    for user in ("ann", "bob", "ann", "bob"):
        reply = fetch(f"{edge.url}/graphql?k=signed-in", {"Authorization": f"Bearer {user}"})
        assert reply.json() == {"authorization": f"Bearer {user}"}
        assert reply.cache_status == ""
    reached = edge.origin.requests_for("signed-in")
    assert [seen.headers["Authorization"] for seen in reached] == [
        f"Bearer {user}" for user in ("ann", "bob", "ann", "bob")
    ]


def test_every_post_reaches_the_origin(edge: Edge):
    key = new_key(edge, Answer("public, max-age=60"))
    for _ in range(3):
        reply = fetch(public(edge, key), {"Content-Type": "application/json"}, data=b"{}")
        assert reply.status == 200
    assert [seen.method for seen in edge.origin.requests_for(key)] == ["POST"] * 3


def test_the_key_is_the_query_string_accept_and_origin_and_never_a_token(edge: Edge):
    key = new_key(edge, Answer("public, max-age=60"))
    url = public(edge, key)
    variants: list[dict[str, str]] = [
        {},
        {"Accept": "application/graphql-response+json"},
        {"Origin": "http://localhost:5173"},
        {"Origin": "http://127.0.0.1:4173"},
    ]
    for headers in variants:
        first = fetch(url, headers)
        assert first.cache_status == "MISS"
        assert first.json()["accept"] == headers.get("Accept", first.json()["accept"])
        assert first.json()["origin"] == headers.get("Origin")
    for headers in variants:
        assert fetch(url, headers).cache_status == "HIT"
    assert fetch(f"{url}&variables=%7B%7D").cache_status == "MISS"
    # A token neither reaches the public origin nor makes an answer of its own.
    signed = fetch(url, {"Authorization": "Bearer ann"})
    assert signed.cache_status == "HIT"
    assert signed.json()["authorization"] is None
    assert all("Authorization" not in seen.headers for seen in edge.origin.requests_for(key))
    assert len(edge.origin.requests_for(key)) == len(variants) + 1
    # The cache's own access log says it too, line by line. nginx writes a
    # line once the answer has gone out, so the last one may trail the client.
    expected = [*["MISS"] * len(variants), *["HIT"] * len(variants), "MISS", "HIT"]

    def logged() -> list[str]:
        lines = edge.cache.access_log.read_text().splitlines()
        return [line.split("cache=")[1].split()[0] for line in lines if key in line]

    wait_for(lambda: len(logged()) >= len(expected), 10, "the access log's last line")
    assert logged() == expected


def test_an_expired_answer_is_revalidated_with_its_etag(edge: Edge):
    key = new_key(edge, Answer("public, max-age=1"))
    url = public(edge, key)
    assert fetch(url).cache_status == "MISS"
    # A client's own If-None-Match is answered from the cache.
    assert fetch(url, {"If-None-Match": '"v1"'}).status == 304
    time.sleep(EXPIRED)
    again = fetch(url)
    assert again.status == 200
    assert again.cache_status == "REVALIDATED"
    assert again.json()["version"] == 1
    reached = edge.origin.requests_for(key)
    assert len(reached) == 2
    assert reached[1].headers.get("If-None-Match") == '"v1"'


def test_stale_while_revalidate_answers_at_once_and_updates_in_the_background(edge: Edge):
    key = new_key(edge, Answer("public, max-age=1, stale-while-revalidate=30"))
    url = public(edge, key)
    assert fetch(url).json()["version"] == 1
    answer = edge.origin.answers[key]
    answer.version, answer.delay = 2, 1.0
    time.sleep(EXPIRED)
    asked = time.monotonic()
    stale = fetch(url)
    assert time.monotonic() - asked < 0.8  # not the origin's second
    assert (stale.cache_status, stale.json()["version"]) == ("STALE", 1)
    fresh = wait_for(lambda: (r := fetch(url)).json()["version"] == 2 and r, 5, "the update")
    assert fresh.cache_status == "HIT"
    assert len(edge.origin.requests_for(key)) == 2


def test_stale_if_error_serves_the_last_answer_within_its_bound_only(tmp_path: Path):
    with running_edge(tmp_path) as edge:
        kept = new_key(edge, Answer("public, max-age=1, stale-if-error=60"))
        bare = new_key(edge, Answer("public, max-age=1"))
        for key in (kept, bare):
            assert fetch(public(edge, key)).status == 200
        # The origin goes away (chalice local restarting, say).
        edge.server.shutdown()
        edge.server.server_close()
        time.sleep(EXPIRED)
        served = fetch(public(edge, kept))
        assert (served.status, served.json()["version"]) == (200, 1)
        assert served.cache_status == "STALE"
        # Without stale-if-error the failure is the answer, as at the edge.
        assert fetch(public(edge, bare)).status == 502


def test_the_configuration_is_the_stacks_own(edge: Edge):
    config = edge.cache.config_path.read_text()
    folder = str(edge.cache.folder)
    # Nothing of the system's nginx: pid, logs and temporary files in the folder.
    assert "/etc/nginx" not in config
    assert "/var/" not in config
    for directive in ("pid", "error_log", "access_log", "proxy_temp_path", "proxy_cache_path"):
        (line,) = [line for line in config.splitlines() if line.strip().startswith(directive)]
        assert folder in line, line
    assert (edge.cache.folder / "nginx.pid").exists()
    assert not re.search(r"@[A-Z]+@", config)  # every placeholder filled


# --- Through the running stack, in front of the real API. ---

TOP = (
    '{ topRestaurants(window: DAY, period: "%s", first: 100)'
    " { edges { favoriteCount node { id } } } }"
)
FAVORITE = 'mutation { favorite(restaurantId: "%s") { changed } }'


def origin_requests(stack: Stack, marker: str) -> int:
    """Requests chalice local logged whose target holds ``marker``."""
    log = (stack.data_dir / "logs" / "api.log").read_text(errors="replace")
    return sum(1 for line in log.splitlines() if marker in line and '"GET ' in line)


def max_age(reply: Reply) -> int:
    """The answer's max-age; 0 when it has none (the API sends none yet)."""
    for directive in reply.headers.get("Cache-Control", "").split(","):
        name, _, value = directive.strip().partition("=")
        if name == "max-age":
            return int(value)
    return 0


def cached_get(stack: Stack, query: str, headers: dict[str, str] | None = None) -> Reply:
    url = f"{stack.status['cache']}/public/graphql?" + urllib.parse.urlencode({"query": query})
    return fetch(url, headers)


def test_the_stack_runs_its_cache_and_says_where(stack: Stack):
    running = current(stack)
    cache = running["cache"]
    assert cache is not None
    assert cache.startswith("http://127.0.0.1:")
    assert running["parts"]["cache"]["state"] == "up"
    assert f"{cache}/public/graphql" in stack.output()  # the start banner
    today = f"{datetime.now(UTC):%Y-%m-%d}"
    through = post(f"{cache}/public/graphql", TOP % today)
    assert through == post(f"{stack.api}/public/graphql", TOP % today)


def test_signed_in_requests_through_the_stacks_cache_always_reach_the_api(stack: Stack):
    cache = current(stack)["cache"]
    marker = uuid.uuid4().hex[:10]
    query = urllib.parse.urlencode({"query": "{ viewer { id } }"})
    url = f"{cache}/graphql?{query}&m={marker}"
    ids = set()
    for user in ("cache-ann", "cache-bob", "cache-ann", "cache-bob"):
        reply = fetch(url, {"Authorization": token(user)})
        assert reply.status == 200, reply.body
        assert reply.cache_status == ""
        ids.add(reply.json()["data"]["viewer"]["id"])
    assert len(ids) == 2  # each got their own
    assert origin_requests(stack, marker) == 4


def test_a_favorite_shows_up_through_the_cache_within_max_age_plus_the_streams_lag(stack: Stack):
    cache = current(stack)["cache"]
    restaurant = f"0-cached-{uuid.uuid4().hex[:8]}"
    today = f"{datetime.now(UTC):%Y-%m-%d}"
    before = cached_get(stack, TOP % today)
    assert before.status == 200
    # The stream's lag: test_freshness's bound for it.
    bound = max_age(before) + 5.0
    assert post(f"{cache}/graphql", FAVORITE % restaurant, "cache-fan") == {
        "data": {"favorite": {"changed": True}}
    }
    written = time.monotonic()
    while True:
        rows = cached_get(stack, TOP % today).json()["data"]["topRestaurants"]["edges"]
        if {"favoriteCount": 1, "node": {"id": restaurant}} in rows:
            break
        elapsed = time.monotonic() - written
        assert elapsed < bound, f"{restaurant} not through the cache after {elapsed:.1f}s"
        time.sleep(0.1)


def test_a_thousand_identical_public_gets_reach_the_api_once_per_max_age(stack: Stack):
    marker = f"burst{uuid.uuid4().hex[:8]}"
    query = "{ topRestaurants(first: 5) { edges { node { id } } } }" + f" # {marker}"
    first = cached_get(stack, query)
    assert first.status == 200
    # Depends on the API: a public answer with a max-age.
    assert "public" in first.headers.get("Cache-Control", "")
    period = max_age(first)
    assert period > 0
    started = time.monotonic()

    def client(n: int) -> list[int]:
        statuses = []
        for i in range(50):
            time.sleep(max(0.0, started + i * 0.2 + n * 0.01 - time.monotonic()))
            statuses.append(cached_get(stack, query).status)
        return statuses

    with ThreadPoolExecutor(20) as pool:
        statuses = [s for batch in pool.map(client, range(20)) for s in batch]
    elapsed = time.monotonic() - started
    assert statuses == [200] * 1000
    # Depends on the API: one origin request per max-age period (revalidations
    # included), plus the first fill.
    assert origin_requests(stack, marker) <= math.ceil(elapsed / period) + 2


def test_without_nginx_the_stack_says_so_and_serves_without_a_cache(tmp_path: Path):
    missing = tmp_path / "no-such-nginx"
    stack = Stack(tmp_path / "data", backend="moto", options=("--nginx", str(missing)))
    try:
        assert stack.status["cache"] is None
        assert "cache" not in stack.status["parts"]
        assert "nginx is missing (apt-get install nginx)" in stack.output()
        assert "Cache:            off" in stack.output()  # the start banner
        result = post(f"{stack.api}/public/graphql", "{ topRestaurants { edges { cursor } } }")
        assert result == {"data": {"topRestaurants": {"edges": []}}}
    finally:
        assert stack.stop() == set()
