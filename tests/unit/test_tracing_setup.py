"""The tracing backend's setting, and the boundary around the tracing libraries."""

from __future__ import annotations

import ast

import pytest

from chalicelib import tracing
from chalicelib.settings import (
    DEFAULT_XRAY_DAEMON_ADDRESS,
    TRACING_BACKENDS,
    SettingsError,
    from_env,
    lambda_trace_header,
)
from chalicelib.tracing import otel, spans
from infra.stages import ROOT

TRACING_LIBRARIES = ("aws_xray_sdk", "opentelemetry", "google")


def test_the_backend_is_the_xray_sdk_unless_the_setting_says_otherwise():
    assert set(TRACING_BACKENDS) == {"opentelemetry", "xray-sdk"}
    assert from_env({}).tracing_backend == "xray-sdk"
    assert from_env({"TRACING_BACKEND": "opentelemetry"}).tracing_backend == "opentelemetry"
    with pytest.raises(SettingsError, match="TRACING_BACKEND must be one of"):
        from_env({"TRACING_BACKEND": "jaeger"})


def test_the_daemon_address_is_lambdas_or_the_documented_default():
    assert from_env({}).xray_daemon_address == DEFAULT_XRAY_DAEMON_ADDRESS == "127.0.0.1:2000"
    lambda_env = {"AWS_XRAY_DAEMON_ADDRESS": "169.254.79.129:2000"}
    assert from_env(lambda_env).xray_daemon_address == "169.254.79.129:2000"


def test_the_trace_header_is_read_at_each_call_never_cached():
    env = {"_X_AMZN_TRACE_ID": "Root=1-69300000-000000000000000000000001;Sampled=1"}
    assert lambda_trace_header(env) == env["_X_AMZN_TRACE_ID"]
    env["_X_AMZN_TRACE_ID"] = "Root=1-69300000-000000000000000000000002;Sampled=1"
    assert lambda_trace_header(env) == env["_X_AMZN_TRACE_ID"]
    assert lambda_trace_header({}) is None


def test_a_dynamodb_span_names_the_tables_the_call_touches():
    assert otel.table_names({"TableName": "t"}) == ["t"]
    assert otel.table_names({"RequestItems": {"b": {}, "a": {}}}) == ["a", "b"]
    transaction = {
        "TransactItems": [
            {"Put": {"TableName": "counts"}},
            {"Update": {"TableName": "counts"}},
            {"ConditionCheck": {"TableName": "favorites"}},
        ]
    }
    assert otel.table_names(transaction) == ["counts", "favorites"]
    assert otel.table_names({}) == []


def test_annotation_keys_are_what_xray_accepts():
    assert tracing.annotation_key("lag-seconds.p99") == "lag_seconds_p99"


def test_only_the_tracing_backends_import_a_tracing_library():
    importers = set()
    for path in [ROOT / "app.py", *(ROOT / "chalicelib").rglob("*.py")]:
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            names: list[str] = []
            if isinstance(node, ast.Import):
                names = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom) and node.module:
                names = [node.module]
            if any(name.split(".")[0] in TRACING_LIBRARIES for name in names):
                importers.add(path.relative_to(ROOT).as_posix())
    # Each backend its own library; the package's API and spans import none.
    assert importers == {
        "chalicelib/tracing/xray_sdk.py",
        "chalicelib/tracing/otel.py",
        "chalicelib/tracing/udp.py",
    }


def test_the_linked_traces_annotation_holds_whole_trace_ids_up_to_its_cap():
    ids = [f"1-69300000-{n:024x}" for n in range(60)]
    shown = spans.linked_traces([ids[0], ids[1], ids[0], *ids[2:]])
    assert len(shown) <= spans.LINKS_ANNOTATION_MAX
    assert shown.split() == ids[: len(shown.split())]  # in order, once each, none cut
    assert len(shown.split()) == (spans.LINKS_ANNOTATION_MAX + 1) // 36
