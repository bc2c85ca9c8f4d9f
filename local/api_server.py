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
from pathlib import Path
from typing import Any

from chalice.cli.factory import CLIFactory
from chalice.deploy.validate import validate_routes
from chalice.local import (
    ChaliceRequestHandler,
    CustomLocalChalice,
    LocalChalice,
    LocalDevServer,
)

from local.bounded import BoundedHTTPServer

ROOT = Path(__file__).resolve().parents[1]
CLIENT_TIMEOUT_SECONDS = 10.0
MAX_CONNECTIONS = 64


BUSY_BODY = json.dumps({"message": "too many connections at once; retry shortly"}).encode()
BUSY_RESPONSE = (
    b"HTTP/1.1 503 Service Unavailable\r\n"
    b"Content-Type: application/json\r\n"
    b"Retry-After: 1\r\n"
    b"Connection: close\r\n"
    b"Content-Length: " + str(len(BUSY_BODY)).encode() + b"\r\n\r\n" + BUSY_BODY
)


class BoundedServer(BoundedHTTPServer):
    """chalice local's server: past ``max_connections`` a connection is refused
    with a 503 rather than left waiting (API clients retry)."""

    max_connections = MAX_CONNECTIONS

    def admit(self, request: Any) -> bool:
        if self._slots.acquire(blocking=False):
            return True
        self._refuse(request)
        return False

    def _refuse(self, request: socket.socket) -> None:
        with contextlib.suppress(OSError):
            request.settimeout(1.0)
            request.sendall(BUSY_RESPONSE)
            # Closing over unread request bytes would reset the connection and lose
            # the 503: take what has arrived, without waiting for more.
            request.setblocking(False)
            request.recv(65536)
        self.shutdown_request(request)


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
