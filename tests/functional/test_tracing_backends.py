"""Both tracing backends, as Lambda runs them, read back from a stand-in X-Ray daemon.

Each backend runs in a child process with Lambda's environment (tracing on,
``LAMBDA_TASK_ROOT``, ``AWS_XRAY_DAEMON_ADDRESS`` pointing at a UDP socket of
this test, a trace header per invocation), on moto's DynamoDB
(tests/functional/lambda_child.py). What arrives is decoded (X-Ray segment
documents, OTLP protobuf) into one shape and checked: the same tree under the
segment Lambda started, with the same annotations, in both backends.
"""

from __future__ import annotations

import base64
import json
import os
import subprocess
import sys
from dataclasses import dataclass
from functools import cache

import pytest

from devtools.xray_daemon import HEADER, SAMPLED_SPANS, Node, XRayDaemon, tree
from tests.conftest import ROOT
from tests.support import COUNTS_TABLE, FAVORITES_TABLE

BACKENDS = ("xray-sdk", "opentelemetry")
LIBRARIES = {"xray-sdk": ("aws_xray_sdk",), "opentelemetry": ("opentelemetry", "google")}


def header(n: int, sampled: int = 1) -> tuple[str, str, str]:
    """A Lambda trace header, with its trace id and its parent (Lambda's segment)."""
    root, parent = f"1-69300000-{n:024x}", f"{n:016x}"
    return f"Root={root};Parent={parent};Sampled={sampled}", root, parent


FAVORITE, BATCH, REPLAY, UNSAMPLED = header(1), header(2), header(3), header(4, sampled=0)
WRITTEN, COUNTED = header(5), header(6)
TAPPED, TALLIED = header(7), header(8)
INVOCATIONS = [
    ["favorite", FAVORITE[0]],
    ["batch", BATCH[0]],
    ["batch", REPLAY[0]],  # the same batch again: its markers say "already applied"
    ["batch", UNSAMPLED[0]],
    ["link", f"{WRITTEN[0]}|{COUNTED[0]}"],
    ["counted", f"{TAPPED[0]}|{TALLIED[0]}"],
]


@dataclass(frozen=True)
class Run:
    nodes: list[Node]
    datagrams: list[bytes]
    loaded: list[str]

    def under(self, trace: tuple[str, str, str]) -> list[Node]:
        return [node for node in self.nodes if node.trace_id == trace[1]]

    def top(self, trace: tuple[str, str, str]) -> Node:
        (node,) = [node for node in self.under(trace) if node.parent_id == trace[2]]
        return node

    def children(self, node: Node) -> list[Node]:
        return [child for child in self.nodes if child.parent_id == node.id]


def run_lambda(env: dict[str, str], invocations: list[list[str]], *, traced: bool = True) -> Run:
    with XRayDaemon() as daemon:
        done = subprocess.run(
            [sys.executable, "-m", "tests.functional.lambda_child", json.dumps(invocations)],
            env={**env, "AWS_XRAY_DAEMON_ADDRESS": daemon.address},
            cwd=ROOT,
            capture_output=True,
            text=True,
            check=False,
            timeout=120,
        )
        assert done.returncode == 0, done.stderr
        if traced:
            # Sent before the child exited; on loopback they are here, or about to be.
            daemon.wait_for(TALLIED[1], count=2)
        return Run(daemon.nodes(), daemon.datagrams(), json.loads(done.stdout.splitlines()[-1]))


def lambda_env(backend: str) -> dict[str, str]:
    env = {key: value for key, value in os.environ.items() if key != "TRACING_ENABLED"}
    return {
        **env,
        # What Lambda sets: tracing is on because of the function name.
        "AWS_LAMBDA_FUNCTION_NAME": "favorites-test-handler",
        "LAMBDA_TASK_ROOT": str(ROOT),
        "TRACING_BACKEND": backend,
    }


@cache
def traced(backend: str) -> Run:
    return run_lambda(lambda_env(backend), INVOCATIONS)


@pytest.fixture(params=BACKENDS)
def backend(request: pytest.FixtureRequest) -> str:
    return str(request.param)


def test_a_favorite_is_the_graphql_span_and_its_put_under_lambdas_segment(backend):
    run = traced(backend)
    operation = run.top(FAVORITE)
    assert operation.name == "graphql"
    annotations = dict(operation.annotations)
    assert len(annotations.pop("request_id")) >= 16
    assert annotations == {"operation": "AddFavorite", "operation_type": "mutation", "errors": 0}
    (call,) = run.children(operation)
    assert call.name == "DynamoDB.PutItem"
    assert call.tables == (FAVORITES_TABLE,)
    assert call.error is False
    # Nothing else of this invocation: one span and its one DynamoDB call.
    assert len(run.under(FAVORITE)) == 2


def test_a_batch_is_the_aggregation_span_with_its_report_and_its_transaction(backend):
    run = traced(backend)
    batch = run.top(BATCH)
    assert batch.name == "aggregate_favorites"
    annotations = batch.annotations
    assert annotations["records"] == 3
    assert annotations["applied"] == 2
    assert annotations["skipped"] == 1
    assert annotations["duplicates"] == 0
    assert annotations["chunks"] == 1
    assert annotations["failed"] is False
    assert annotations["lag_seconds"] > 0
    (call,) = run.children(batch)
    assert call.name == "DynamoDB.TransactWriteItems"
    assert call.error is False
    if backend == "opentelemetry":
        assert call.tables == (COUNTS_TABLE,)  # the X-Ray SDK names no table for a transaction
    # The replay: every marker already there, the cancelled transaction is an error.
    replay = run.top(REPLAY)
    assert replay.annotations["duplicates"] == 2
    assert replay.annotations["applied"] == 0
    (cancelled, *retried) = run.children(replay)
    assert cancelled.name == "DynamoDB.TransactWriteItems"
    assert cancelled.error is True
    assert retried == []  # applied markers are dropped, not retried


def test_both_backends_record_the_same_tree():
    shapes = {
        backend: [tree(traced(backend).under(trace), trace[2]) for trace in (FAVORITE, BATCH)]
        for backend in BACKENDS
    }
    assert shapes["xray-sdk"] == shapes["opentelemetry"]
    favorite, batch = shapes["opentelemetry"]
    assert favorite == [
        (
            "graphql",
            ("errors", "operation", "operation_type", "request_id"),
            [("DynamoDB.PutItem", (), [])],
        )
    ]
    assert [name for name, _, _ in batch] == ["aggregate_favorites"]
    assert batch[0][2] == [("DynamoDB.TransactWriteItems", (), [])]


def test_an_unsampled_invocation_sends_nothing(backend):
    assert traced(backend).under(UNSAMPLED) == []


def test_each_backend_loads_its_own_library_only(backend):
    loaded = traced(backend).loaded
    other = next(name for name in BACKENDS if name != backend)
    assert any(name.split(".")[0] in LIBRARIES[backend] for name in loaded)
    assert not [name for name in loaded if name.split(".")[0] in LIBRARIES[other]]


def test_opentelemetry_frames_spans_as_the_daemon_reads_them():
    """As AWS's ADOT UDP exporter: the header line, T1S, the base64 OTLP request."""
    run = traced("opentelemetry")
    assert run.datagrams
    for datagram in run.datagrams:
        assert datagram.startswith(HEADER + SAMPLED_SPANS)
        base64.b64decode(datagram[len(HEADER + SAMPLED_SPANS) :], validate=True)
        assert len(datagram) < 64 * 1024  # the daemon's buffer


def test_with_tracing_off_nothing_is_sent_and_no_tracing_library_loads():
    # Lambda's environment, daemon and trace headers included, with tracing turned off.
    env = {**lambda_env("opentelemetry"), "TRACING_ENABLED": "false"}
    run = run_lambda(env, INVOCATIONS[:3], traced=False)
    assert run.datagrams == []
    assert run.loaded == []


def test_a_span_links_to_the_span_another_invocation_named(backend):
    """What a favorite records (its tracer's trace_header) is what its batch links to."""
    run = traced(backend)
    written = run.top(WRITTEN)
    counted = run.top(COUNTED)
    assert written.name == "favorite_write"
    assert counted.links == ((WRITTEN[1], written.id),)
    assert counted.annotations == {"linked_traces": WRITTEN[1]}


def test_a_favorite_is_followed_from_its_trace_to_the_batch_that_counted_it(backend):
    run = traced(backend)
    operation = run.top(TAPPED)  # the favorite's request: its graphql span wrote the item
    assert operation.name == "graphql"
    batch = run.top(TALLIED)
    assert batch.name == "aggregate_favorites"
    assert batch.annotations["applied"] == 1
    # What a filter expression finds the batch by: the favorite's trace id.
    assert batch.annotations["linked_traces"] == TAPPED[1]
    assert batch.links == ((TAPPED[1], operation.id),)
    (attributes,) = batch.link_attributes
    assert attributes["restaurant_id"] == "traced"
    assert 0 <= attributes["lag_seconds"] < 60  # written and counted seconds apart
