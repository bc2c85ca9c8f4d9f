"""``chalice local`` on waitress, bounded against slow clients: ``python -m local.api_server``.

What ``chalice local --stage local --no-autoreload`` serves (the app and stage
config its CLI loads, answered by Chalice's own ``LocalGateway``: routing, CORS
preflights, the local authorizer, binary types, status codes and errors), put
behind waitress (``local.wsgi``) instead of Chalice's thread-per-connection
server, so a stalled client holds a socket, not a thread, and:

- a connection is closed after ``--client-timeout`` seconds without a byte
  either way (a request whose headers or body stop arriving, an idle keep-alive);
- at most ``--max-connections`` are served at once: past it, a new connection
  gets ``503`` with ``Retry-After`` at once.

What it cannot bound: the timeout is per byte, not per request, so a client
that trickles a byte within every timeout keeps its connection; and up to the
cap such clients take the slots other clients need (they get 503s until the
slow ones go). Put a real proxy in front of anything exposed; this server binds
127.0.0.1 only and is for development.
"""

from __future__ import annotations

import argparse
import base64
import http
import logging
import os
import re
import sys
import time
from collections import Counter
from collections.abc import Iterable
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any, Protocol

from chalice.app import Chalice
from chalice.cli.factory import CLIFactory
from chalice.deploy.validate import validate_routes
from chalice.local import LocalChalice, LocalGateway, LocalGatewayException

from local import wsgi

if TYPE_CHECKING:
    from _typeshed.wsgi import StartResponse, WSGIEnvironment

ROOT = Path(__file__).resolve().parents[1]
CLIENT_TIMEOUT_SECONDS = 10.0
MAX_CONNECTIONS = 64
# ChaliceWSGI's access line: '127.0.0.1 - - [03/Dec/2026 16:22:46] "GET /path HTTP/1.1" 200 -'.
ACCESS_LINE = re.compile(
    r'^\S+ - - \[[^]]*\] "(?P<method>[A-Z]+) (?P<target>\S+) [^"]*" (?P<status>\d{3}) -$'
)


def request_headers(environ: WSGIEnvironment) -> dict[str, str]:
    """The request's headers as Chalice's local server hands them on: ``Content-Type: ...``.

    WSGI keeps no header's spelling; written as HTTP clients write them, the
    gateway finds what it looks up by exact name (``Authorization``).
    """
    headers: dict[str, str] = {}
    for key, value in environ.items():
        if key.startswith("HTTP_"):
            name = key[5:]
        elif key in ("CONTENT_TYPE", "CONTENT_LENGTH") and value:
            name = key
        else:
            continue
        headers["-".join(word.capitalize() for word in name.split("_"))] = str(value)
    return headers


def _status_line(code: int) -> str:
    try:
        return f"{code} {http.HTTPStatus(code).phrase}"
    except ValueError:
        return f"{code} Unknown"


class Gateway(Protocol):
    """What ``ChaliceWSGI`` asks of Chalice's ``LocalGateway``."""

    def handle_request(
        self, method: str, path: str, headers: dict[str, Any], body: bytes | None
    ) -> dict[str, Any]: ...


class ChaliceWSGI:
    """A WSGI application that answers as ``chalice local``'s request handler does."""

    def __init__(self, gateway: Gateway, access_log: IO[str] = sys.stderr) -> None:
        self._gateway = gateway
        self._access_log = access_log

    def __call__(self, environ: WSGIEnvironment, start_response: StartResponse) -> Iterable[bytes]:
        method = str(environ["REQUEST_METHOD"])
        # The request target as sent, undecoded, as Chalice's route matcher expects it.
        query = environ.get("QUERY_STRING") or ""
        path = environ.get("REQUEST_URI") or environ["PATH_INFO"] + (f"?{query}" if query else "")
        headers = request_headers(environ)
        length = int(environ.get("CONTENT_LENGTH") or 0)
        body = environ["wsgi.input"].read(length) if length > 0 else None
        try:
            response = self._gateway.handle_request(
                method=method, path=path, headers=headers, body=body
            )
            code = int(response["statusCode"])
            answer_headers = dict(response["headers"])
            answer_headers.update(response["multiValueHeaders"])
            answer = response["body"]
            if response.get("isBase64Encoded"):
                answer = base64.b64decode(answer)
        except LocalGatewayException as error:
            code, answer_headers, answer = error.CODE, dict(error.headers), error.body
        content = self._respond(code, answer_headers, answer, start_response)
        self._log(environ, method, code)
        return [content]

    @staticmethod
    def _respond(
        code: int,
        headers: dict[str, Any],
        body: str | bytes | None,
        start_response: StartResponse,
    ) -> bytes:
        # As ChaliceRequestHandler: no body, Content-Length 0; else its length and a
        # Content-Type, application/json unless the response names one.
        if body is None:
            content = b""
            headers["Content-Length"] = "0"
            first: list[tuple[str, str]] = []
        else:
            content = body if isinstance(body, bytes) else body.encode("utf-8")
            content_type = headers.pop("Content-Type", "application/json")
            first = [("Content-Length", str(len(content))), ("Content-Type", str(content_type))]
        listed = [
            (name, str(item))
            for name, value in headers.items()
            for item in (value if isinstance(value, list) else [value])
        ]
        start_response(_status_line(code), first + listed)
        return content

    def _log(self, environ: WSGIEnvironment, method: str, code: int) -> None:
        # The access line Chalice's server writes on stderr (BaseHTTPRequestHandler's).
        when = time.strftime("%d/%b/%Y %H:%M:%S")
        target = environ.get("REQUEST_URI") or environ.get("PATH_INFO", "")
        protocol = environ.get("SERVER_PROTOCOL", "HTTP/1.1")
        address = environ.get("REMOTE_ADDR", "-")
        self._access_log.write(f'{address} - - [{when}] "{method} {target} {protocol}" {code} -\n')
        self._access_log.flush()


def answered(log: str, method: str, marker: str) -> Counter[int]:
    """The status of each request in ``log`` (``ChaliceWSGI``'s access lines among the
    server's other output) made with ``method`` on a target that holds ``marker``."""
    statuses: Counter[int] = Counter()
    for line in log.splitlines():
        found = ACCESS_LINE.search(line)
        if found and found["method"] == method and marker in found["target"]:
            statuses[int(found["status"])] += 1
    return statuses


def per_thread_requests(app: Chalice) -> None:
    """Give ``app`` one ``current_request`` per thread, as ``chalice local`` does.

    Chalice keeps the request on the app; waitress runs several requests at
    once, each on its own thread. Chalice's ``LocalChalice`` keeps it per
    thread; a subclass of both, made for this app, leaves Chalice's classes as
    they are (``chalice local`` rewrites one of their bases instead).
    """
    app.__class__ = type(f"Local{type(app).__name__}", (LocalChalice, type(app)), {})


def create_app(stage: str = "local") -> ChaliceWSGI:
    """What ``chalice local`` builds (its ``create_local_server``), as a WSGI application."""
    # environ=os.environ: the stage's variables go where the app reads them, as
    # with chalice local (the factory would otherwise update a copy).
    factory = CLIFactory(str(ROOT), environ=os.environ)
    config = factory.create_config_obj(chalice_stage_name=stage)
    app = config.chalice_app
    validate_routes(app.routes)  # as chalice local: what chalice deploy would refuse
    per_thread_requests(app)
    return ChaliceWSGI(LocalGateway(app, config))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--port", type=int, default=8000)
    parser.add_argument("--stage", default="local")
    parser.add_argument("--client-timeout", type=float, default=CLIENT_TIMEOUT_SECONDS)
    parser.add_argument("--max-connections", type=int, default=MAX_CONNECTIONS)
    args = parser.parse_args(argv)
    # As chalice local does: the app's log lines on stdout, as in Lambda.
    logging.basicConfig(stream=sys.stdout, level=logging.INFO, format="%(message)s")
    server = wsgi.refusing_server(
        create_app(args.stage),
        args.port,
        client_timeout=args.client_timeout,
        max_connections=args.max_connections,
    )
    print(f"Serving on http://{wsgi.HOST}:{args.port}", flush=True)  # as chalice local
    server.run()
    return 0


if __name__ == "__main__":
    sys.exit(main())
