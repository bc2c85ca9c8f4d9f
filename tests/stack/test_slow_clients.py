"""Slow and broken clients on chalice local: no thread each, stalls closed, 503 past the cap."""

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


def held(server: psutil.Process, port: int) -> int:
    """Connections the server process holds open on ``port``."""
    return sum(
        1
        for connection in server.net_connections(kind="tcp")
        if connection.laddr
        and connection.laddr.port == port
        and connection.status == psutil.CONN_ESTABLISHED
    )


def answered(sock: socket.socket) -> bool:
    """Whether the server has written to ``sock`` (looked at without waiting or reading)."""
    sock.setblocking(False)
    try:
        return bool(sock.recv(1, socket.MSG_PEEK))
    except BlockingIOError:
        return False


def test_stalled_requests_hold_at_most_the_cap_and_are_closed_after_the_timeout(api):
    port, server = api
    idle_threads = server.num_threads()
    sockets: list[socket.socket] = []
    try:
        for _ in range(STALLED):
            sock = socket.create_connection(("127.0.0.1", port), timeout=5)
            sock.sendall(HEADERS_WITHOUT_BODY)
            sockets.append(sock)
        # Once every connection past the cap is answered, the stalled ones take every
        # slot: the server holds the cap's worth of sockets, and not one thread more
        # (looked at while they stall, before TIMEOUT closes them).
        wait_for(
            lambda: sum(answered(sock) for sock in sockets) >= STALLED - CAP,
            timeout=TIMEOUT,
            what="the connections past the cap answered",
        )
        assert held(server, port) == CAP
        assert server.num_threads() == idle_threads
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


def test_a_malformed_token_is_a_500_from_the_local_authorizer_not_a_dropped_connection(api):
    # chalice local's token decoder raises before the app runs (see SECURITY.md);
    # the server answers for it instead of closing the connection on the client.
    port, _ = api
    body = b'{"query": "{ viewer { id } }"}'
    with socket.create_connection(("127.0.0.1", port), timeout=10) as sock:
        sock.sendall(
            b"POST /graphql HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: no-dots\r\n"
            b"Content-Type: application/json\r\nContent-Length: "
            + str(len(body)).encode()
            + b"\r\n\r\n"
            + body
        )
        answer = b""
        while chunk := sock.recv(65536):  # the server closes once it has answered
            answer += chunk
    assert answer.startswith(b"HTTP/1.1 500 Internal Server Error\r\n")
    assert b"unexpected internal server error" in answer
