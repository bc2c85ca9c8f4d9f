"""Serve the demo page (``local/web/``) on its own port: another origin than the API.

Besides the static files it answers ``/config.json`` with the API's address, so
the page works on whatever ports the stack was started with.
"""

from __future__ import annotations

import argparse
import functools
import json
import signal
import sys
import threading
from http.server import SimpleHTTPRequestHandler
from pathlib import Path
from typing import Any

from local.bounded import BoundedHTTPServer

WEB_ROOT = Path(__file__).parent / "web"
CLIENT_TIMEOUT = 10.0  # seconds without a byte before a connection is closed
MAX_CONNECTIONS = 32
DEMO_USERS = ("demo-alice", "demo-bob", "demo-carol")
DEMO_RESTAURANTS = (
    "pizza-palace",
    "sushi-corner",
    "taco-town",
    "burger-barn",
    "pho-house",
    "curry-club",
)


class _Handler(SimpleHTTPRequestHandler):
    config: bytes = b"{}"

    def do_GET(self) -> None:
        if self.path.split("?", 1)[0] == "/config.json":
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Cache-Control", "no-store")
            self.send_header("Content-Length", str(len(self.config)))
            self.end_headers()
            self.wfile.write(self.config)
            return
        super().do_GET()

    def log_message(self, format: str, *args: Any) -> None:
        pass  # the page's requests would drown the stack's own output


class _Server(BoundedHTTPServer):
    """Past ``MAX_CONNECTIONS`` a connection waits in the listen queue (a static
    page needs no 503); a stalled one is closed by the handler's timeout."""

    max_connections = MAX_CONNECTIONS


class DemoPageServer:
    def __init__(self, port: int, api_url: str) -> None:
        config = json.dumps(
            {"api": api_url, "users": list(DEMO_USERS), "restaurants": list(DEMO_RESTAURANTS)}
        ).encode()
        handler = type("Handler", (_Handler,), {"config": config, "timeout": CLIENT_TIMEOUT})
        self._server = _Server(
            ("127.0.0.1", port), functools.partial(handler, directory=str(WEB_ROOT))
        )
        self.port = int(self._server.server_address[1])
        self._thread = threading.Thread(
            target=self._server.serve_forever, name="demo-page", daemon=True
        )

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> DemoPageServer:
        self._thread.start()
        return self

    def serve_forever(self) -> None:
        self._server.serve_forever()

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()


def main(argv: list[str] | None = None) -> int:
    """The stack's demo page process: ``python -m local.webserver --port 8002 --api URL``."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--api", required=True, help="the API's address, for the page")
    args = parser.parse_args(argv)
    server = DemoPageServer(args.port, args.api)
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    print(f"demo page on {server.url}/ for the API at {args.api}", flush=True)
    server.serve_forever()
    return 0


if __name__ == "__main__":
    sys.exit(main())
