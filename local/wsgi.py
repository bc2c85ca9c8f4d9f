"""The local stack's two HTTP servers (chalice local's API, the demo page) on waitress.

waitress reads requests and writes answers on one event loop and hands only
whole requests to a few worker threads, so a slow or stalled client holds a
socket, never a thread. The stack's bounds map onto its settings:

- ``client_timeout``: waitress' ``channel_timeout``, looked at every second: a
  connection that sends and receives nothing that long (a body that never comes,
  an idle keep-alive) is closed;
- ``max_connections``: connections served at once. Past it the API answers a
  new connection ``503`` with ``Retry-After: 1`` at once (API clients retry);
  the demo page leaves it in the listen queue (waitress' ``connection_limit``).

Both bind 127.0.0.1 only: they are for development.
"""

from __future__ import annotations

import contextlib
import json
import math
import socket
from typing import TYPE_CHECKING, Any, cast

from waitress.adjustments import Adjustments
from waitress.server import TcpWSGIServer

if TYPE_CHECKING:
    from _typeshed.wsgi import WSGIApplication

HOST = "127.0.0.1"
# Application threads: a few requests blocked on DynamoDB (one restarting, say)
# must not queue all the others; stalled clients take none.
THREADS = 8
# waitress counts its listening socket and its wake-up pipe among its connections.
OWN_SOCKETS = 2

BUSY_BODY = json.dumps({"message": "too many connections at once; retry shortly"}).encode()
BUSY_RESPONSE = (
    b"HTTP/1.1 503 Service Unavailable\r\n"
    b"Content-Type: application/json\r\n"
    b"Retry-After: 1\r\n"
    b"Connection: close\r\n"
    b"Content-Length: " + str(len(BUSY_BODY)).encode() + b"\r\n\r\n" + BUSY_BODY
)


def _adjustments(port: int, client_timeout: float, connection_limit: int) -> Adjustments:
    return Adjustments(
        host=HOST,
        port=port,
        threads=THREADS,
        # Whole seconds in waitress; rounded up, so a connection is never cut early.
        channel_timeout=math.ceil(client_timeout),
        cleanup_interval=1,
        connection_limit=connection_limit,
        # poll(): select() fails past file descriptor 1024.
        asyncore_use_poll=True,
    )


class RefusingServer(TcpWSGIServer):
    """Serves at most ``max_connections`` connections; answers any more 503 at once."""

    max_connections = 64

    def handle_accept(self) -> None:
        if len(cast("dict[int, Any]", self.active_channels)) < self.max_connections:
            super().handle_accept()
            return
        try:
            accepted = self.accept()
        except OSError:
            return  # gone before it was accepted
        if accepted is not None:
            _refuse(accepted[0])


def _refuse(connection: socket.socket) -> None:
    with contextlib.suppress(OSError):
        connection.settimeout(1.0)
        connection.sendall(BUSY_RESPONSE)
        # Closing over unread request bytes would reset the connection and lose
        # the 503: take what has arrived, without waiting for more.
        connection.setblocking(False)
        connection.recv(65536)
    connection.close()


def refusing_server(
    app: WSGIApplication, port: int, *, client_timeout: float, max_connections: int
) -> RefusingServer:
    """The API's server: past ``max_connections``, 503 with ``Retry-After``."""
    # waitress' own limit (stop accepting) stays above ours, which answers first.
    limit = max_connections + OWN_SOCKETS + 1
    server = RefusingServer(app, adj=_adjustments(port, client_timeout, limit))
    server.max_connections = max_connections
    return server


def queueing_server(
    app: WSGIApplication, port: int, *, client_timeout: float, max_connections: int
) -> TcpWSGIServer:
    """The demo page's server: past ``max_connections``, new clients wait in the listen queue."""
    return TcpWSGIServer(app, adj=_adjustments(port, client_timeout, max_connections + OWN_SOCKETS))
