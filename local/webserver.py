"""Serve the demo page (``local/web/``) on its own port: another origin than the API.

Besides the static files it answers ``/config.json`` with the API's address, so
the page works on whatever ports the stack was started with.
"""

from __future__ import annotations

import argparse
import datetime
import email.utils
import json
import mimetypes
import signal
import sys
from collections.abc import Iterable
from pathlib import Path
from typing import TYPE_CHECKING

from local import wsgi

if TYPE_CHECKING:
    from _typeshed.wsgi import StartResponse, WSGIEnvironment

WEB_ROOT = Path(__file__).parent / "web"
CLIENT_TIMEOUT = 10.0  # seconds without a byte before a connection is closed
# Past this many connections a new one waits in the listen queue (a static page needs no 503).
MAX_CONNECTIONS = 32
TEXT = [("Content-Type", "text/plain")]
DEMO_USERS = ("demo-alice", "demo-bob", "demo-carol")
DEMO_RESTAURANTS = (
    "pizza-palace",
    "sushi-corner",
    "taco-town",
    "burger-barn",
    "pho-house",
    "curry-club",
)


class DemoPage:
    """A WSGI application: the files of ``root`` (``/`` is ``index.html``) and ``/config.json``."""

    def __init__(self, api_url: str, root: Path = WEB_ROOT) -> None:
        self._root = root.resolve()
        self._config = json.dumps(
            {"api": api_url, "users": list(DEMO_USERS), "restaurants": list(DEMO_RESTAURANTS)}
        ).encode()

    def __call__(self, environ: WSGIEnvironment, start_response: StartResponse) -> Iterable[bytes]:
        method = environ["REQUEST_METHOD"]
        if method not in ("GET", "HEAD"):
            return _answer(
                start_response, "501 Not Implemented", b"Unsupported method", method, TEXT
            )
        path = str(environ.get("PATH_INFO") or "/")
        if path == "/config.json":
            headers = [("Content-Type", "application/json"), ("Cache-Control", "no-store")]
            return _answer(start_response, "200 OK", self._config, method, headers)
        file = self._file(path)
        if file is None:
            return _answer(start_response, "404 Not Found", b"File not found", method, TEXT)
        modified = int(file.stat().st_mtime)
        if _unchanged_since(environ.get("HTTP_IF_MODIFIED_SINCE"), modified):
            start_response("304 Not Modified", [])
            return [b""]
        content_type = mimetypes.guess_type(file.name)[0] or "application/octet-stream"
        headers = [
            ("Content-Type", content_type),
            ("Last-Modified", email.utils.formatdate(modified, usegmt=True)),
        ]
        return _answer(start_response, "200 OK", file.read_bytes(), method, headers)

    def _file(self, path: str) -> Path | None:
        """The file ``path`` names inside the root, if any (nothing outside it, no listing)."""
        wanted = (self._root / path.lstrip("/")).resolve()
        if wanted.is_dir():
            wanted = wanted / "index.html"
        if not wanted.is_relative_to(self._root) or not wanted.is_file():
            return None
        return wanted


def _unchanged_since(header: str | None, modified: int) -> bool:
    """Whether an ``If-Modified-Since`` header says the client has the file as it is."""
    if not header:
        return False
    try:
        since = email.utils.parsedate_to_datetime(header)
    except (TypeError, ValueError):
        return False  # not a date: send the file
    if since.tzinfo is None:
        since = since.replace(tzinfo=datetime.UTC)
    return since.timestamp() >= modified


def _answer(
    start_response: StartResponse,
    status: str,
    body: bytes,
    method: str,
    headers: list[tuple[str, str]] | None = None,
) -> list[bytes]:
    start_response(status, [*(headers or []), ("Content-Length", str(len(body)))])
    return [b"" if method == "HEAD" else body]


def main(argv: list[str] | None = None) -> int:
    """The stack's demo page process: ``python -m local.webserver --port 8002 --api URL``."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--api", required=True, help="the API's address, for the page")
    args = parser.parse_args(argv)
    server = wsgi.queueing_server(
        DemoPage(args.api),
        args.port,
        client_timeout=CLIENT_TIMEOUT,
        max_connections=MAX_CONNECTIONS,
    )
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    print(f"demo page on http://{wsgi.HOST}:{args.port}/ for the API at {args.api}", flush=True)
    server.run()
    return 0


if __name__ == "__main__":
    sys.exit(main())
