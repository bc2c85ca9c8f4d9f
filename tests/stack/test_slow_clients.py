"""Slow and broken clients on chalice local: bounded threads, closed stalls, 503 past the cap."""

from __future__ import annotations

import contextlib
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator

import psutil
import pytest

from local import processes
from local.dynamodb_local import free_port
from local.stack import stage_environment
from tests.stack.conftest import ROOT, stack_environment, wait_for

TIMEOUT = 5.0
CAP = 16
STALLED = 100
# A POST whose body never comes: the server waits for 100 bytes that are not sent.
HEADERS_WITHOUT_BODY = (
    b"POST /public/graphql HTTP/1.1\r\nHost: 127.0.0.1\r\n"
    b"Content-Type: application/json\r\nContent-Length: 100\r\n\r\n"
)


@pytest.fixture
def api() -> Iterator[tuple[int, psutil.Process]]:
    """``python -m local.api_server`` alone (no DynamoDB needed for what is tested here)."""
    port = free_port()
    env = {**stack_environment(), **stage_environment(), "PYTHONUNBUFFERED": "1"}
    env["DYNAMODB_ENDPOINT_URL"] = f"http://127.0.0.1:{free_port()}"
    command = [sys.executable, "-m", "local.api_server", "--port", str(port)]
    command += ["--client-timeout", str(TIMEOUT), "--max-connections", str(CAP)]
    server = processes.spawn(command, cwd=ROOT, env=env, stdout=subprocess.DEVNULL)
    try:
        wait_for(lambda: processes.listens(server.pid, port), timeout=60, what="the API listening")
        yield port, psutil.Process(server.pid)
    finally:
        processes.stop(server)


def graphiql_status(port: int) -> int:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/public/graphql", timeout=5) as r:
            return int(r.status)
    except urllib.error.HTTPError as error:
        return int(error.code)


def closed_by_server(sock: socket.socket) -> bool:
    """True once the server has closed ``sock`` (end of stream) or reset it."""
    try:
        return sock.recv(4096) == b""
    except TimeoutError:
        return False
    except ConnectionResetError:
        return True


def test_stalled_requests_hold_at_most_the_cap_and_are_closed_after_the_timeout(api):
    port, server = api
    idle_threads = server.num_threads()
    sockets: list[socket.socket] = []
    try:
        for _ in range(STALLED):
            sock = socket.create_connection(("127.0.0.1", port), timeout=5)
            sock.sendall(HEADERS_WITHOUT_BODY)
            sockets.append(sock)
        # The stalled ones take every slot, and no more threads than the cap
        # (looked at while they stall, before TIMEOUT closes them).
        wait_for(
            lambda: server.num_threads() >= idle_threads + CAP, timeout=TIMEOUT, what="the cap"
        )
        assert server.num_threads() <= idle_threads + CAP
        # Past the cap, connections are answered at once: 503 and Retry-After.
        busy = 0
        for sock in sockets:
            sock.settimeout(0.2)
            with contextlib.suppress(TimeoutError):
                answer = sock.recv(4096)
                if answer.startswith(b"HTTP/1.1 503"):
                    assert b"Retry-After: 1" in answer
                    busy += 1
        assert busy >= STALLED - CAP
        # ... and none for ever: each is closed once TIMEOUT passes without a byte.
        deadline = time.monotonic() + TIMEOUT + 10
        open_ones = list(sockets)
        while open_ones and time.monotonic() < deadline:
            for sock in open_ones:
                sock.settimeout(0.05)
            open_ones = [sock for sock in open_ones if not closed_by_server(sock)]
        assert open_ones == [], f"{len(open_ones)} stalled connections still open"
        wait_for(lambda: server.num_threads() <= idle_threads, timeout=10, what="threads released")
        # The server serves again: the slots came back (400: a GET without a query).
        assert graphiql_status(port) == 400
    finally:
        for sock in sockets:
            sock.close()


def test_an_idle_keep_alive_connection_is_closed_after_the_timeout(api):
    port, _ = api
    with socket.create_connection(("127.0.0.1", port), timeout=5) as sock:
        sock.sendall(b"GET /public/graphql HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")
        first = sock.recv(65536)
        assert first.startswith(b"HTTP/1.1 400")  # answered, and the connection kept
        sock.settimeout(0.1)
        wait_for(lambda: closed_by_server(sock), timeout=TIMEOUT + 10, what="idle socket closed")
