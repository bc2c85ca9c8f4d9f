"""The two counts of origin requests the bench reports for the local cache agree with
what the origin really answered: the API server's access log (``local.api_server.answered``)
and nginx's cache statuses (``local.cache.logged_statuses`` and ``TO_ORIGIN``)."""

from __future__ import annotations

import http.client
import threading
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest

from local import processes, wsgi
from local.api_server import ChaliceWSGI, answered
from local.cache import TO_ORIGIN, Cache, find_nginx, logged_statuses
from local.dynamodb_local import free_port
from tests.stack.conftest import wait_for
from tests.support import skip_unless_ci

pytestmark = pytest.mark.integration

ETAG = '"v1"'


class CountingGateway:
    """Stands in for Chalice's gateway: a public answer for one second with an ETag
    (304 to a matching If-None-Match), and a count of every request it answered."""

    def __init__(self) -> None:
        self.requests = 0
        self._lock = threading.Lock()

    def handle_request(
        self, method: str, path: str, headers: dict[str, Any], body: bytes | None
    ) -> dict[str, Any]:
        with self._lock:
            self.requests += 1
        answer = {"Cache-Control": "public, max-age=1, stale-while-revalidate=30", "ETag": ETAG}
        if headers.get("If-None-Match") == ETAG:
            return {"statusCode": 304, "headers": answer, "multiValueHeaders": {}, "body": None}
        return {"statusCode": 200, "headers": answer, "multiValueHeaders": {}, "body": "{}"}


@contextmanager
def origin_behind_nginx(folder: Path) -> Iterator[tuple[CountingGateway, Path, Cache]]:
    """ChaliceWSGI on waitress (as local.api_server serves it), logging to a file, and
    nginx on the stack's configuration in front of it."""
    nginx = find_nginx()
    if nginx is None:
        skip_unless_ci("nginx is not installed (apt-get install nginx)", "nginx is required")
    gateway, log = CountingGateway(), folder / "api.log"
    port = free_port()
    with log.open("w") as access_log:
        app = ChaliceWSGI(gateway, access_log)
        server = wsgi.refusing_server(app, port, client_timeout=10, max_connections=64)
        thread = threading.Thread(target=server.run, daemon=True)
        thread.start()
        cache = Cache(nginx, folder / "cache", free_port(), f"127.0.0.1:{port}")
        cache.prepare()
        process = processes.spawn(cache.command(), cwd=cache.folder)
        try:
            wait_for(lambda: processes.listens(process.pid, cache.port), 10, "nginx listening")
            yield gateway, log, cache
        finally:
            processes.stop(process)
            server.close()
            thread.join(5)


def test_the_origins_log_and_nginxs_statuses_count_the_requests_the_origin_answered(
    tmp_path: Path,
):
    marker = uuid.uuid4().hex
    reads = 60
    with origin_behind_nginx(tmp_path) as (gateway, log, cache):
        connection = http.client.HTTPConnection("127.0.0.1", cache.port, timeout=10)
        started = time.monotonic()
        for index in range(reads):  # 20 a second for 3 s: a fill, then revalidations
            time.sleep(max(0.0, started + index / 20 - time.monotonic()))
            connection.request("GET", f"/public/graphql?m={marker}")
            response = connection.getresponse()
            assert (response.status, response.read()) == (200, b"{}")
        connection.close()
        # A background update may still run, and nginx logs a line after its answer.
        wait_for(
            lambda: sum(logged_statuses(cache.access_log, "GET", marker).values()) == reads,
            10,
            "nginx's last access line",
        )
        statuses = logged_statuses(cache.access_log, "GET", marker)
        to_origin = sum(count for status, count in statuses.items() if status in TO_ORIGIN)
        wait_for(lambda: gateway.requests >= to_origin, 10, "the last background update")
        by_origin = answered(log.read_text(), "GET", marker)
    assert gateway.requests == sum(by_origin.values()) == to_origin, (by_origin, statuses)
    # max-age=1 over 3 s: the fill and at least one revalidation, answered 304.
    assert by_origin[200] == 1
    assert by_origin[304] >= 1
    assert statuses["HIT"] >= reads // 2
    # The other requests' lines count for nothing.
    assert answered(log.read_text(), "POST", marker) == {}
    assert logged_statuses(cache.access_log, "GET", "no-such-marker") == {}
