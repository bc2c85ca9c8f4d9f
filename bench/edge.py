"""Section 7, the edge: origin requests per 1,000 public reads through the local cache,
and what a read takes through it against straight to the origin.

The API runs as ``make run`` serves it (``local.api_server``: chalice local's gateway
on waitress, the ``local`` stage's settings) on the bench's DynamoDB Local, with nginx
on the edge's rules (``local.cache``) in front of it: two child processes on free
ports, stopped on every way out. The reads are what a signed-out app sends with
Apollo's ``PersistedQueryLink`` (``useGETForHashedQueries``): a hash-only GET on
``/public/graphql``, the document registered once beforehand.

How many reads reach the origin depends on the rate and the max-age, not on the
number of reads: each max-age period costs one origin request (the first fill, then a
revalidation with the ETag), so the rate is fixed and stated with the figure.
"""

from __future__ import annotations

import http.client
import json
import os
import sys
import tempfile
import time
import urllib.parse
from collections import Counter
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from bench.dynamo import batch_put, fresh_tables
from bench.section import ROOT, Section, x, zipf_count_items
from bench.stats import figure, ratio
from chalicelib.documents import document_hash
from chalicelib.settings import Settings, from_environment
from infra.tables import TableNames
from local import processes
from local.api_server import answered
from local.cache import INSTALL_HINT, TO_ORIGIN, Cache, find_nginx, logged_statuses
from local.dynamodb_local import free_port
from local.stack import http_ready, stage_environment

if TYPE_CHECKING:
    from mypy_boto3_dynamodb import DynamoDBClient

READS = 1000
RATE = 50.0  # reads per second, all clients together
CLIENTS = 5  # each with its own keep-alive connection, taking turns on the schedule
RESTAURANTS = 1000
START_SECONDS = 60.0
# Answers the cache served without waiting for the origin (nginx's $upstream_cache_status).
FROM_CACHE = frozenset({"HIT", "STALE", "UPDATING"})
ACCEPT = "application/json"


class NginxMissing(RuntimeError):
    """The edge figures need the cache; a bench without them would report nothing."""


@dataclass(frozen=True)
class Origin:
    """The API server and its output, which holds its access log."""

    url: str
    log: Path

    def gets(self, sha256: str) -> Counter[int]:
        """The statuses of the GETs naming ``sha256`` the server has answered so far."""
        return answered(self.log.read_text(errors="replace"), "GET", sha256)


def _started(process: Any, port: int, url: str, what: str, log: Path) -> None:
    """Back once ``process`` listens on ``port`` and answers ``url``; its log if it dies."""
    ready = http_ready(port, url)

    def up() -> bool:
        if process.poll() is not None:
            tail = log.read_text(errors="replace")[-3000:] if log.exists() else ""
            raise RuntimeError(f"{what} exited ({process.returncode}) on start:\n{tail}")
        return ready(process.pid)

    processes.wait_until(up, START_SECONDS, f"{what} on port {port}", interval=0.2)


@contextmanager
def api_server(environment: dict[str, str], folder: Path) -> Iterator[Origin]:
    """``python -m local.api_server`` on a free port, stopped afterwards."""
    port = free_port()
    log = folder / "api.log"
    command = [sys.executable, "-m", "local.api_server", "--port", str(port), "--stage", "local"]
    with log.open("wb") as output:
        process = processes.spawn(command, cwd=ROOT, env=environment, stdout=output)
    try:
        url = f"http://127.0.0.1:{port}"
        _started(process, port, f"{url}/public/graphql", "the API server", log)
        yield Origin(url, log)
    finally:
        processes.stop(process)


@contextmanager
def edge_cache(origin: Origin, folder: Path) -> Iterator[Cache]:
    """nginx on ``local/cache.conf`` in front of ``origin`` on a free port, stopped afterwards."""
    nginx = find_nginx()
    if nginx is None:
        raise NginxMissing(
            f"nginx is missing: section 7 measures reads through the local cache "
            f"({INSTALL_HINT}; make bench installs it)"
        )
    cache = Cache(nginx, folder / "cache", free_port(), origin.url.removeprefix("http://"))
    cache.prepare()
    with (folder / "nginx.out").open("wb") as output:
        process = processes.spawn(cache.command(), cwd=cache.folder, stdout=output)
    try:
        _started(process, cache.port, f"{cache.url}/", "nginx", cache.error_log)
        yield cache
    finally:
        processes.stop(process)


class Reader:
    """One client on one keep-alive connection; every answer must be the expected data."""

    def __init__(self, base_url: str, expected: dict[str, Any]) -> None:
        parts = urllib.parse.urlsplit(base_url)
        self._host, self._port = parts.hostname or "127.0.0.1", parts.port or 80
        self._expected = expected
        self._connection: http.client.HTTPConnection | None = None

    def get(self, target: str) -> tuple[str, float]:
        """The answer's ``X-Cache-Status`` and the seconds it took."""
        for attempt in range(2):
            connection = self._connection or http.client.HTTPConnection(
                self._host, self._port, timeout=15
            )
            started = time.perf_counter()
            try:
                connection.request("GET", target, headers={"Accept": ACCEPT})
                response = connection.getresponse()
                body = response.read()
            except (ConnectionError, http.client.HTTPException):
                # A keep-alive connection the server closed while idle: once more, anew.
                connection.close()
                self._connection = None
                if attempt:
                    raise
                continue
            elapsed = time.perf_counter() - started
            self._connection = connection
            self._check(response.status, body)
            return response.getheader("X-Cache-Status") or "", elapsed
        raise AssertionError("unreachable")

    def _check(self, status: int, body: bytes) -> None:
        # A broken path (an error, an empty page, a GraphiQL page) must not make a figure.
        if status != 200:
            raise AssertionError(f"GET answered {status}: {body[:500]!r}")
        answer = json.loads(body)
        if answer != self._expected:
            raise AssertionError(f"unexpected answer: {str(answer)[:500]}")

    def close(self) -> None:
        if self._connection is not None:
            self._connection.close()


def _post(url: str, body: dict[str, Any]) -> dict[str, Any]:
    parts = urllib.parse.urlsplit(url)
    connection = http.client.HTTPConnection(parts.hostname or "", parts.port or 80, timeout=15)
    try:
        headers = {"Content-Type": "application/json", "Accept": ACCEPT}
        connection.request("POST", parts.path, body=json.dumps(body), headers=headers)
        response = connection.getresponse()
        answer: dict[str, Any] = json.loads(response.read())
    finally:
        connection.close()
    if response.status != 200 or "errors" in answer or not answer.get("data"):
        raise AssertionError(f"registering the document: {response.status} {answer}")
    return answer


def _max_age(cache_control: str) -> int:
    for directive in cache_control.split(","):
        name, _, value = directive.strip().partition("=")
        if name == "max-age":
            return int(value)
    return 0


def paced_reads(
    cache_url: str, target: str, expected: dict[str, Any]
) -> tuple[Counter[str], float]:
    """``READS`` GETs at ``RATE`` per second from ``CLIENTS`` clients: their cache
    statuses, and the seconds from the first to the last."""
    start = time.monotonic() + 0.1

    def client(first: int) -> list[str]:
        reader = Reader(cache_url, expected)
        statuses = []
        try:
            for index in range(first, READS, CLIENTS):  # read i leaves at start + i / RATE
                time.sleep(max(0.0, start + index / RATE - time.monotonic()))
                statuses.append(reader.get(target)[0])
        finally:
            reader.close()
        return statuses

    with ThreadPoolExecutor(CLIENTS) as pool:
        statuses = Counter(status for batch in pool.map(client, range(CLIENTS)) for status in batch)
    return statuses, time.monotonic() - start


def _settled(
    origin: Origin, cache: Cache, sha256: str, before: Counter[int]
) -> tuple[Counter[int], Counter[str]] | None:
    """The run's origin answers by status and nginx's cache statuses, once every read
    is logged and the origin has answered every request nginx's statuses send it."""
    statuses = logged_statuses(cache.access_log, "GET", sha256)
    reached = origin.gets(sha256) - before
    to_origin = sum(count for status, count in statuses.items() if status in TO_ORIGIN)
    if sum(statuses.values()) < READS or sum(reached.values()) < to_origin:
        return None
    return reached, statuses


def _environment(client: DynamoDBClient) -> dict[str, str]:
    """The child's environment as the stack gives it: the ``local`` stage's variables,
    DynamoDB at the bench's endpoint."""
    stage = stage_environment()
    stage["DYNAMODB_ENDPOINT_URL"] = client.meta.endpoint_url
    return {**os.environ, **stage, "PYTHONUNBUFFERED": "1"}


@dataclass(frozen=True)
class EdgeRun:
    """What one run measured: the paced reads and the interleaved latencies."""

    rows: int
    policy: str
    max_age: int
    seconds: float
    reached: Counter[int]  # the origin's answers by status, from its access log
    logged: Counter[str]  # nginx's cache statuses of the paced reads
    through: tuple[float, ...]  # ms through the cache
    straight: tuple[float, ...]  # ms straight to the origin
    sampled: Counter[str]  # nginx's statuses of the latency GETs through the cache

    @property
    def origin_requests(self) -> int:
        return sum(self.reached.values())

    @property
    def by_cache(self) -> int:
        return sum(count for status, count in self.logged.items() if status in TO_ORIGIN)

    @property
    def expected(self) -> float:
        """The bound from max-age: one origin request per period, the first fill included."""
        return self.seconds / self.max_age + 1


def edge_reads(
    client: DynamoDBClient,
    section: Section,
    document: str,
    variables: dict[str, Any],
    samples: int,
) -> None:
    """Add the edge's sub-tables to ``section`` and its figures to ``section.numbers``."""
    environment = _environment(client)
    settings: Settings = from_environment(environment)
    names = TableNames(settings.favorites_table, settings.counts_table, settings.documents_table)
    fresh_tables(client, names)
    items = zipf_count_items(range(RESTAURANTS), "ALL", settings.ranking_shards)
    batch_put(client, settings.counts_table, items)
    with (
        tempfile.TemporaryDirectory(prefix="bench-edge-") as temporary,
        api_server(environment, Path(temporary)) as origin,
        edge_cache(origin, Path(temporary)) as cache,
    ):
        run = measure(origin, cache, document, variables, samples)
    report(section, run)


def persisted_get(sha256: str, variables: dict[str, Any]) -> str:
    """The request target of a hash-only GET, as Apollo's link builds it."""
    extensions = {"persistedQuery": {"version": 1, "sha256Hash": sha256}}
    return "/public/graphql?" + urllib.parse.urlencode(
        {
            "extensions": json.dumps(extensions, separators=(",", ":")),
            "variables": json.dumps(variables, separators=(",", ":")),
        }
    )


def measure(
    origin: Origin, cache: Cache, document: str, variables: dict[str, Any], samples: int
) -> EdgeRun:
    sha256 = document_hash(document)
    target = persisted_get(sha256, variables)
    # Once, as Apollo's link does on PersistedQueryNotFound: the document with its hash.
    extensions = {"persistedQuery": {"version": 1, "sha256Hash": sha256}}
    body = {"query": document, "variables": variables, "extensions": extensions}
    expected = _post(f"{cache.url}/public/graphql", body)
    rows = len(expected["data"]["topRestaurants"]["edges"])
    if rows != variables["first"]:
        raise AssertionError(f"{rows} rows in the ranking, not {variables['first']}")
    policy = _probe(origin, target)
    max_age = _max_age(policy)
    if not policy.startswith("public") or max_age <= 0:
        raise AssertionError(f"the public GET is not cacheable: Cache-Control {policy!r}")

    before = origin.gets(sha256)
    statuses, seconds = paced_reads(cache.url, target, expected)
    if sum(statuses.values()) != READS or set(statuses) - FROM_CACHE - TO_ORIGIN:
        raise AssertionError(f"cache statuses: {dict(statuses)}")
    # A background update may still be on its way, and nginx logs a request
    # after answering it: wait until both logs hold every line of the run.
    reached, logged = processes.wait_until(
        lambda: _settled(origin, cache, sha256, before), 10, "the run's last log lines"
    )

    through: list[float] = []
    straight: list[float] = []
    sampled: Counter[str] = Counter()
    cached, direct = Reader(cache.url, expected), Reader(origin.url, expected)
    try:
        for turn in range(samples):
            # Taking turns, and which goes first too: neither path always follows the other.
            for reader in (cached, direct) if turn % 2 == 0 else (direct, cached):
                status, elapsed = reader.get(target)
                if reader is cached:
                    sampled[status] += 1
                    through.append(elapsed * 1000)
                else:
                    straight.append(elapsed * 1000)
    finally:
        cached.close()
        direct.close()
    return EdgeRun(
        rows, policy, max_age, seconds, reached, logged, tuple(through), tuple(straight), sampled
    )


def _listed(statuses: Counter[str] | Counter[int]) -> str:
    return ", ".join(f"{status} x{count}" for status, count in sorted(statuses.items()))


def report(section: Section, run: EdgeRun) -> None:
    per_thousand = run.origin_requests * 1000 / READS
    section.lines.append("")
    section.lines.append(
        f"Through the local cache: the API served as `make run` serves it (chalice local's "
        f"gateway on waitress, stage `local`, on this DynamoDB Local with {RESTAURANTS:,} "
        "restaurants) with nginx on the edge's rules (`local/cache.conf`) in front. The "
        f"signed-out home (the ranking of {run.rows} rows above) as a persisted query: "
        "registered once (the document with its hash, as Apollo's link sends it), then "
        f"{READS:,} hash-only GETs on `/public/graphql` at {RATE:.0f} reads/s from "
        f"{CLIENTS} keep-alive clients ({run.seconds:.1f} s), every answer checked (200, "
        f"the ranking's data, no errors). The API answers `Cache-Control: {run.policy}`. "
        "Origin requests are counted in the API's own access log and cross-checked with "
        "nginx's cache statuses (MISS, EXPIRED, REVALIDATED, and STALE for the background "
        "update it starts). They depend on rate x max-age, not on the number of reads: "
        "each max-age period costs one (the first fill, then a revalidation with the "
        "ETag), so at most duration / max-age + 1; at a tenth of the rate, ten times as "
        "many per 1,000 reads."
    )
    section.lines.append("")
    section.header("reads through the cache", "origin requests", "nginx's statuses", "expected")
    section.row(
        f"{READS:,} at {RATE:.0f}/s, max-age {run.max_age} s",
        f"{run.origin_requests} ({per_thousand:.1f} per 1,000; {_listed(run.reached)})",
        f"{_listed(run.logged)} ({run.by_cache} to the origin)",
        f"≤ {run.expected:.1f} ({run.seconds:.1f} s / {run.max_age} s + 1)",
    )
    cache_ms, origin_ms = figure(run.through, "ms"), figure(run.straight, "ms")
    section.lines.append("")
    section.header("the same GET", "latency", "vs through the cache")
    section.row(f"through the cache ({_listed(run.sampled)})", cache_ms.text(2), "")
    section.row("straight to the origin", origin_ms.text(2), x(ratio(origin_ms, cache_ms)))
    section.lines.append("")
    section.lines.append(
        f"Latency: {len(run.through)} GETs each way, taking turns, one keep-alive connection "
        "each (median (min..max)); straight to the origin every GET runs the query on "
        "DynamoDB Local, through the cache nginx answers from its entry."
    )
    section.numbers.update(
        {
            "edge_reads": float(READS),
            "edge_rate_per_second": RATE,
            "edge_max_age_seconds": float(run.max_age),
            "edge_origin_requests_per_1000": per_thousand,
            "edge_origin_requests_by_cache_status_per_1000": run.by_cache * 1000 / READS,
            "edge_expected_origin_requests_per_1000": run.expected * 1000 / READS,
            "edge_cache_p50_ms": cache_ms.median,
            "edge_origin_p50_ms": origin_ms.median,
            "edge_origin_vs_cache": ratio(origin_ms, cache_ms),
        }
    )


def _probe(origin: Origin, target: str) -> str:
    """The hash-only GET straight at the origin: registered, and its Cache-Control."""
    parts = urllib.parse.urlsplit(origin.url)
    connection = http.client.HTTPConnection(parts.hostname or "", parts.port or 80, timeout=15)
    try:
        connection.request("GET", target, headers={"Accept": ACCEPT})
        response = connection.getresponse()
        answer = json.loads(response.read())
    finally:
        connection.close()
    if response.status != 200 or "errors" in answer or not response.getheader("ETag"):
        raise AssertionError(f"hash-only GET: {response.status} {answer}")
    return response.getheader("Cache-Control") or ""
