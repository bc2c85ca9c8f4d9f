"""The local stack's WSGI applications, in-process: chalice local's answers, the demo page."""

from __future__ import annotations

import base64
import io
import json
from pathlib import Path
from typing import Any
from wsgiref.util import setup_testing_defaults

from chalice.local import ForbiddenError

from local.api_server import ChaliceWSGI, request_headers
from local.webserver import DemoPage


class Answer:
    """What a WSGI application answered: status, headers and body."""

    def __init__(self, app: Any, environ: dict[str, Any]) -> None:
        self.status = ""
        self.headers: list[tuple[str, str]] = []

        def start_response(status: str, headers: list[tuple[str, str]], *_: Any) -> Any:
            self.status, self.headers = status, headers

        self.body = b"".join(app(environ, start_response))

    def header(self, name: str) -> list[str]:
        return [value for key, value in self.headers if key.lower() == name.lower()]


def environ(
    method: str = "GET", uri: str = "/", body: bytes = b"", **headers: str
) -> dict[str, Any]:
    env: dict[str, Any] = {"REQUEST_METHOD": method, "REQUEST_URI": uri}
    env["PATH_INFO"], _, env["QUERY_STRING"] = uri.partition("?")
    if body:
        env["CONTENT_LENGTH"] = str(len(body))
    env["wsgi.input"] = io.BytesIO(body)
    for name, value in headers.items():
        key = name.upper()
        env[key if key == "CONTENT_TYPE" else f"HTTP_{key}"] = value
    setup_testing_defaults(env)
    return env


class FakeGateway:
    """Stands in for Chalice's LocalGateway: records the request, answers what it is told."""

    def __init__(self, response: dict[str, Any] | Exception) -> None:
        self.response = response
        self.requests: list[dict[str, Any]] = []

    def handle_request(
        self, method: str, path: str, headers: dict[str, Any], body: bytes | None
    ) -> dict[str, Any]:
        self.requests.append({"method": method, "path": path, "headers": headers, "body": body})
        if isinstance(self.response, Exception):
            raise self.response
        return self.response


def response(**fields: Any) -> dict[str, Any]:
    return {"statusCode": 200, "headers": {}, "multiValueHeaders": {}, "body": None, **fields}


def test_the_gateway_gets_the_request_as_sent_with_headers_spelled_as_clients_do():
    gateway = FakeGateway(response(body="{}"))
    env = environ(
        "POST",
        "/public/graphql?x=%7B1%7D",
        b'{"query": "{ a }"}',
        content_type="application/json",
        authorization="token",
        x_amz_date="now",
    )
    Answer(ChaliceWSGI(gateway, io.StringIO()), env)
    [request] = gateway.requests
    assert request["method"] == "POST"
    assert request["path"] == "/public/graphql?x=%7B1%7D"  # undecoded, with its query
    assert request["body"] == b'{"query": "{ a }"}'
    assert request["headers"]["Authorization"] == "token"
    assert request["headers"]["Content-Type"] == "application/json"
    assert request["headers"]["Content-Length"] == "18"
    assert request["headers"]["X-Amz-Date"] == "now"


def test_a_request_without_a_body_hands_the_gateway_none():
    gateway = FakeGateway(response(body="{}"))
    Answer(ChaliceWSGI(gateway, io.StringIO()), environ())
    assert gateway.requests[0]["body"] is None


def test_the_answer_is_chalice_locals_status_headers_and_body():
    gateway = FakeGateway(
        response(
            statusCode=415,
            headers={"Access-Control-Allow-Origin": "http://web"},
            multiValueHeaders={"Set-Cookie": ["a=1", "b=2"]},
            body='{"Code": "UnsupportedMediaType"}',
        )
    )
    answer = Answer(ChaliceWSGI(gateway, io.StringIO()), environ("POST"))
    assert answer.status == "415 Unsupported Media Type"
    assert answer.header("Content-Type") == ["application/json"]  # chalice local's default
    assert answer.header("Content-Length") == [str(len(answer.body))]
    assert answer.header("Access-Control-Allow-Origin") == ["http://web"]
    assert answer.header("Set-Cookie") == ["a=1", "b=2"]
    assert json.loads(answer.body) == {"Code": "UnsupportedMediaType"}


def test_a_binary_answer_is_decoded_and_its_own_content_type_kept():
    png = b"\x89PNG\r\n\x1a\n"
    gateway = FakeGateway(
        response(
            headers={"Content-Type": "image/png"},
            body=base64.b64encode(png).decode(),
            isBase64Encoded=True,
        )
    )
    answer = Answer(ChaliceWSGI(gateway, io.StringIO()), environ())
    assert answer.body == png
    assert answer.header("Content-Type") == ["image/png"]


def test_an_answer_without_a_body_says_content_length_0():
    gateway = FakeGateway(response(headers={"Access-Control-Allow-Methods": "GET,POST,OPTIONS"}))
    answer = Answer(ChaliceWSGI(gateway, io.StringIO()), environ("OPTIONS"))
    assert answer.status == "200 OK"
    assert answer.body == b""
    assert answer.header("Content-Length") == ["0"]
    assert answer.header("Content-Type") == []
    assert answer.header("Access-Control-Allow-Methods") == ["GET,POST,OPTIONS"]


def test_the_gateways_own_errors_are_answered_with_their_code_and_logged():
    error = ForbiddenError({"x-amzn-ErrorType": "UnauthorizedException"}, b'{"message": "no"}')
    log = io.StringIO()
    answer = Answer(ChaliceWSGI(FakeGateway(error), log), environ(uri="/nope"))
    assert answer.status == "403 Forbidden"
    assert answer.header("x-amzn-ErrorType") == ["UnauthorizedException"]
    assert answer.body == b'{"message": "no"}'
    assert log.getvalue().endswith('"GET /nope HTTP/1.0" 403 -\n')


def test_request_headers_ignore_what_is_not_a_header():
    env = environ(content_type="text/plain")
    env["CONTENT_LENGTH"] = ""
    assert request_headers(env) == {"Content-Type": "text/plain", "Host": "127.0.0.1"}


def test_the_demo_page_serves_its_files_its_config_and_nothing_else(tmp_path: Path):
    (tmp_path / "index.html").write_text("<html>page</html>")
    (tmp_path.parent / "secret.txt").write_text("secret")
    page = DemoPage("http://api", tmp_path)
    index = Answer(page, environ(uri="/"))
    assert index.status == "200 OK"
    assert index.body == b"<html>page</html>"
    assert index.header("Content-Type") == ["text/html"]
    config = Answer(page, environ(uri="/config.json"))
    assert json.loads(config.body)["api"] == "http://api"
    assert config.header("Cache-Control") == ["no-store"]
    assert Answer(page, environ(uri="/../secret.txt")).status == "404 Not Found"
    assert Answer(page, environ(uri="/missing.js")).status == "404 Not Found"
    assert Answer(page, environ("POST", "/")).status == "501 Not Implemented"
    head = Answer(page, environ("HEAD", "/"))
    assert head.body == b""
    assert head.header("Content-Length") == [str(len(index.body))]
    since = index.header("Last-Modified")[0]
    assert Answer(page, environ(uri="/", if_modified_since=since)).status == "304 Not Modified"
