"""graphql-http's GraphQL-over-HTTP audit suite against both routes of the local stack.

The audits (``serverAudits`` of the npm package ``graphql-http``, pinned in
``tests/stack/audit/package.json`` and installed by ``make test``) send their
requests through ``chalice local``; every one must pass: no error, no warning,
no notice.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from typing import Any

import pytest

from local.tokens import token
from tests.stack.conftest import ROOT, Stack

pytestmark = pytest.mark.integration

AUDIT_DIR = ROOT / "tests" / "stack" / "audit"
# graphql-http 1.23.1 has 61 server audits; fewer results would mean some never ran.
AUDIT_COUNT = 61


def run_audits(url: str, authorization: str | None = None) -> list[dict[str, Any]]:
    node = shutil.which("node")
    if node is None or not (AUDIT_DIR / "node_modules" / "graphql-http").is_dir():
        pytest.fail("the audit needs Node.js and graphql-http: run `make test`")
    env = dict(os.environ)
    if authorization is not None:
        env["GRAPHQL_AUDIT_AUTHORIZATION"] = authorization
    result = subprocess.run(
        [node, "audit.mjs", url],
        cwd=AUDIT_DIR,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    return [json.loads(line) for line in result.stdout.splitlines()]


def failures(results: list[dict[str, Any]]) -> list[str]:
    return [
        f"{r['id']} {r['status']}: {r['name']} ({r['reason']};"
        f" HTTP {r['status_code']}: {r['body']})"
        for r in results
        if r["status"] != "ok"
    ]


def test_every_graphql_over_http_audit_passes_on_the_public_route(stack: Stack):
    results = run_audits(f"{stack.api}/public/graphql")
    assert len(results) == AUDIT_COUNT
    assert failures(results) == []


def test_every_graphql_over_http_audit_passes_on_the_signed_in_route(stack: Stack):
    results = run_audits(f"{stack.api}/graphql", token("audit-user"))
    assert len(results) == AUDIT_COUNT
    assert failures(results) == []
