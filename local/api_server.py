"""``chalice local`` with bounds for slow and broken clients: ``python -m local.api_server``.

The very server ``chalice local --stage local --no-autoreload`` runs (Chalice's
``LocalDevServer`` over the app and stage config its CLI loads), with what it
lacks against clients that stall:

- a socket timeout per connection (``--client-timeout``): a request whose headers
  or body stop arriving, or an idle keep-alive connection, is closed after that
  many seconds without a byte, instead of holding its thread forever;
- a cap on connections served at once (``--max-connections``): past it, a new
  connection gets ``503`` with ``Retry-After`` at once, so stalled clients
  cannot pile up threads without end.

What it cannot bound: the timeout is per read, not per request, so a client
that trickles a byte within every timeout keeps its connection; and up to the
cap such clients take the slots other clients need (they get 503s until the
slow ones go). Put a real proxy in front of anything exposed; this server binds
127.0.0.1 only and is for development.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import logging
import os
import socket
import sys
import threading
from pathlib import Path
from typing import Any

from chalice.cli.factory import CLIFactory
from chalice.deploy.validate import validate_routes
from chalice.local import (
    ChaliceRequestHandler,
    CustomLocalChalice,
    LocalChalice,
    LocalDevServer,
    ThreadedHTTPServer,
)

ROOT = Path(__file__).resolve().parents[1]
CLIENT_TIMEOUT_SECONDS = 10.0
MAX_CONNECTIONS = 64

logger = logging.getLogger("local.api_server")

BUSY_BODY = json.dumps({"message": "too many connections at once; retry shortly"}).encode()
BUSY_RESPONSE = (
    b"HTTP/1.1 503 Service Unavailable\r\n"
    b"Content-Type: application/json\r\n"
    b"Retry-After: 1\r\n"
    b"Connection: close\r\n"
    b"Content-Length: " + str(len(BUSY_BODY)).encode() + b"\r\n\r\n" + BUSY_BODY
)


class BoundedServer(ThreadedHTTPServer):
    """Chalice's threaded server, with at most ``max_connections`` connection threads."""

    max_connections = MAX_CONNECTIONS
    # socketserver's default backlog of 5 makes a burst of clients wait on SYN retries
    # before the server even sees them, let alone answers 503.
    request_queue_size = 128

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        self._slots = threading.BoundedSemaphore(self.max_connections)
        super().__init__(*args, **kwargs)

    def process_request(self, request: Any, client_address: Any) -> None:
        if not self._slots.acquire(blocking=False):
            self._refuse(request)
            return
        try:
            super().process_request(request, client_address)  # starts its thread
        except BaseException:
            self._slots.release()
            raise

    def process_request_thread(self, request: Any, client_address: Any) -> None:
        try:
            super().process_request_thread(request, client_address)
        finally:
            self._slots.release()

    def _refuse(self, request: socket.socket) -> None:
        with contextlib.suppress(OSError):
            request.settimeout(1.0)
            request.sendall(BUSY_RESPONSE)
            # Closing over unread request bytes would reset the connection and lose
            # the 503: take what has arrived, without waiting for more.
            request.setblocking(False)
            request.recv(65536)
        self.shutdown_request(request)

    def handle_error(self, request: Any, client_address: Any) -> None:
        error = sys.exc_info()[1]
        if isinstance(error, TimeoutError | ConnectionError):
            # A client that stalled or went away: one line, not a traceback.
            logger.info("closed the connection of %s: %s", client_address, error or "timed out")
            return
        super().handle_error(request, client_address)


def create_server(
    host: str,
    port: int,
    stage: str = "local",
    client_timeout: float = CLIENT_TIMEOUT_SECONDS,
    max_connections: int = MAX_CONNECTIONS,
) -> LocalDevServer:
    """What ``chalice local`` builds (its ``create_local_server``), with the two bounds."""
    # environ=os.environ: the stage's variables go where the app reads them, as
    # with chalice local (the factory would otherwise update a copy).
    factory = CLIFactory(str(ROOT), environ=os.environ)
    config = factory.create_config_obj(chalice_stage_name=stage)
    app = config.chalice_app
    validate_routes(app.routes)  # as chalice local: what chalice deploy would refuse
    # chalice.local.create_local_server's own step: request objects per thread.
    CustomLocalChalice.__bases__ = (LocalChalice, app.__class__)
    app.__class__ = CustomLocalChalice
    # StreamRequestHandler sets this timeout on every accepted socket.
    handler = type("BoundedHandler", (ChaliceRequestHandler,), {"timeout": client_timeout})
    server = type("Server", (BoundedServer,), {"max_connections": max_connections})
    return LocalDevServer(app, config, host, port, handler_cls=handler, server_cls=server)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--port", type=int, default=8000)
    parser.add_argument("--stage", default="local")
    parser.add_argument("--client-timeout", type=float, default=CLIENT_TIMEOUT_SECONDS)
    parser.add_argument("--max-connections", type=int, default=MAX_CONNECTIONS)
    args = parser.parse_args(argv)
    # As chalice local does: the app's log lines on stdout, as in Lambda.
    logging.basicConfig(stream=sys.stdout, level=logging.INFO, format="%(message)s")
    server = create_server(
        "127.0.0.1", args.port, args.stage, args.client_timeout, args.max_connections
    )
    server.serve_forever()
    return 0


if __name__ == "__main__":
    sys.exit(main())
