"""Where the stack listens: 127.0.0.1 only, DynamoDB Local included."""

from __future__ import annotations

import logging
import urllib.parse

import pytest

from local import backends, dynamodb_local
from local.dynamodb_local import DynamoDBLocal, free_port
from tests.stack.conftest import Stack, listen_addresses, require_java

pytestmark = pytest.mark.integration

LOOPBACK = {"127.0.0.1"}


def _port(url: str) -> int:
    port = urllib.parse.urlsplit(url).port
    assert port is not None, url
    return port


def test_every_server_of_the_stack_listens_on_127_0_0_1_only(stack: Stack):
    # DynamoDB Local's jar has no host option; the stack binds it through its launcher.
    assert listen_addresses(_port(stack.status["dynamodb"])) == LOOPBACK
    assert listen_addresses(_port(stack.api)) == LOOPBACK
    assert listen_addresses(_port(stack.web)) == LOOPBACK


def test_the_plain_jar_listens_on_every_interface_and_says_so(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
):
    # Why the launcher exists: DynamoDB Local's own main binds the wildcard address.
    require_java()
    monkeypatch.setattr(dynamodb_local, "can_bind_loopback", lambda _java: False)
    with caplog.at_level(logging.WARNING, logger="local.dynamodb_local"):
        server = DynamoDBLocal(free_port()).start()
    try:
        assert not server.loopback_only
        assert listen_addresses(server.port) & {"0.0.0.0", "::"}
        assert dynamodb_local.ALL_INTERFACES_WARNING in caplog.text
    finally:
        server.stop()


def test_the_moto_fallback_listens_on_127_0_0_1_only():
    server = backends.MotoServer(free_port()).start()
    try:
        assert listen_addresses(server.port) == LOOPBACK
    finally:
        server.stop()
