"""Serve the demo page (``local/web/``) on its own port: another origin than the API.

Besides the static files it answers ``/config.json`` with the API's address, so
the page works on whatever ports the stack was started with.
"""

from __future__ import annotations

import functools
import json
import threading
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

WEB_ROOT = Path(__file__).parent / "web"
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


class DemoPageServer:
    def __init__(self, port: int, api_url: str) -> None:
        config = json.dumps(
            {"api": api_url, "users": list(DEMO_USERS), "restaurants": list(DEMO_RESTAURANTS)}
        ).encode()
        handler = type("Handler", (_Handler,), {"config": config})
        self._server = ThreadingHTTPServer(
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

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()
