"""The shipped zip, traced as Lambda runs it, with the stage's tracing backend only.

Each zip carries one tracing backend: the stage's (``dev``, as ``make package``
builds it) and the same stage packaged with the other backend, so that either
is known to fit and to work. A zip is unpacked read-only and started by a fresh
``python -I -S`` with Lambda's environment: tracing on (``AWS_LAMBDA_FUNCTION_NAME``),
``LAMBDA_TASK_ROOT``, a trace header and ``AWS_XRAY_DAEMON_ADDRESS`` pointing
at a stand-in daemon, which must receive the invocation's spans.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

from chalicelib.settings import TRACING_BACKENDS, from_env
from infra.package import Package, _dropped, check_imports_kept, package
from infra.stages import ROOT, stage
from local.xray_daemon import XRayDaemon
from tests.deploy import test_shipped_zip as shipped
from tests.deploy.test_shipped_zip import STREAM_ARN, TABLES, _make_writable, _unpack
from tests.support import stream_event, stream_record

# The same moto server, with the same tables, as the zip's other run.
dynamodb_endpoint = shipped.dynamodb_endpoint

ROOT_ID, PARENT = "1-69300000-0000000000000000000000aa", "00000000000000aa"
CHILD = """
import json, sys
request = json.loads(sys.stdin.read())
sys.path.insert(0, request["folder"])
import app
print(json.dumps(app.aggregate_favorites(request["stream"], None)))
libraries = ("aws_xray_sdk", "opentelemetry", "google", "wrapt")
print(json.dumps(sorted({name.split(".")[0] for name in sys.modules} & set(libraries))))
"""


MAX_ZIP_BYTES = 6_000_000


@pytest.fixture(scope="module")
def zips(
    packages: dict[str, Package], tmp_path_factory: pytest.TempPathFactory
) -> dict[str, Package]:
    """Per tracing backend, the dev stage's zip carrying it."""
    built = {from_env(stage("dev").environment).tracing_backend: packages["dev"]}
    for backend in TRACING_BACKENDS:
        if backend not in built:
            dist = tmp_path_factory.mktemp(backend)
            built[backend] = package("dev", dist, tracing_backend=backend)
    return built


@pytest.fixture(params=TRACING_BACKENDS)
def backend(request: pytest.FixtureRequest) -> str:
    return str(request.param)


def test_the_zip_carries_one_tracing_backend_and_fits(zips: dict[str, Package], backend: str):
    packaged = zips[backend]
    assert packaged.zip_path.stat().st_size <= MAX_ZIP_BYTES
    with zipfile.ZipFile(packaged.zip_path) as archive:
        names = set(archive.namelist())
    tops = {name.split("/", 1)[0] for name in names}
    if backend == "xray-sdk":
        assert {"aws_xray_sdk", "wrapt"} <= tops
        assert not tops & {"opentelemetry", "google"}
        return
    assert not tops & {"aws_xray_sdk", "wrapt"}
    assert not any(name.startswith("botocore/data/xray/") for name in names)
    for loaded in (
        "opentelemetry/sdk/trace/__init__.py",
        "opentelemetry/sdk/trace/export/__init__.py",
        "opentelemetry/exporter/otlp/proto/common/_internal/trace_encoder/__init__.py",
        "opentelemetry/proto/collector/trace/v1/trace_service_pb2.py",
        "opentelemetry/propagators/aws/aws_xray_propagator.py",
        "opentelemetry/semconv/_incubating/attributes/otel_attributes.py",
        "google/protobuf/internal/builder.py",
    ):
        assert loaded in names, loaded
    for unused in (
        "opentelemetry/sdk/metrics/__init__.py",
        "opentelemetry/sdk/_logs/__init__.py",
        "opentelemetry/proto/metrics/v1/metrics_pb2.py",
        "opentelemetry/semconv/_incubating/attributes/http_attributes.py",
    ):
        assert unused not in names, unused


def test_the_zip_sends_the_invocations_spans_to_lambdas_daemon(
    zips: dict[str, Package], backend: str, tmp_path: Path, dynamodb_endpoint: str
) -> None:
    packaged = zips[backend]
    folder = _unpack(packaged.zip_path, tmp_path / "task")
    record = stream_record(
        "INSERT", f"traced-{backend}", "u1", "2026-11-23T10:00:00Z", stream_arn=STREAM_ARN
    )
    try:
        with XRayDaemon() as daemon:
            env = {
                "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
                "STAGE": "shipped",
                "AWS_DEFAULT_REGION": "us-east-1",
                "AWS_ACCESS_KEY_ID": "local",
                "AWS_SECRET_ACCESS_KEY": "local",
                "AWS_CONFIG_FILE": os.devnull,
                "AWS_SHARED_CREDENTIALS_FILE": os.devnull,
                "FAVORITES_TABLE": TABLES.favorites,
                "FAVORITE_COUNTS_TABLE": TABLES.counts,
                "FAVORITES_STREAM_ARN": STREAM_ARN,
                "DYNAMODB_ENDPOINT_URL": dynamodb_endpoint,
                "TRACING_BACKEND": backend,
                # What Lambda sets for a function with active tracing.
                "AWS_LAMBDA_FUNCTION_NAME": "favorites-shipped-aggregate",
                "LAMBDA_TASK_ROOT": str(folder),
                "_X_AMZN_TRACE_ID": f"Root={ROOT_ID};Parent={PARENT};Sampled=1",
                "AWS_XRAY_DAEMON_ADDRESS": daemon.address,
            }
            done = subprocess.run(
                [sys.executable, "-I", "-S", "-B", "-c", CHILD],
                input=json.dumps({"folder": str(folder), "stream": stream_event([record])}),
                cwd=folder,
                env=env,
                capture_output=True,
                text=True,
                timeout=120,
                check=False,
            )
            assert done.returncode == 0, done.stderr
            nodes = daemon.wait_for(ROOT_ID, count=2)
    finally:
        _make_writable(folder)
    answer, loaded = (json.loads(line) for line in done.stdout.splitlines()[-2:])
    assert answer == {"batchItemFailures": []}
    expected = {"opentelemetry": ["google", "opentelemetry"], "xray-sdk": ["aws_xray_sdk", "wrapt"]}
    assert loaded == expected[backend]
    (batch,) = [node for node in nodes if node.parent_id == PARENT]
    assert batch.name == "aggregate_favorites"
    assert batch.annotations["applied"] == 1
    assert [node.name for node in nodes if node.parent_id == batch.id] == [
        "DynamoDB.TransactWriteItems"
    ]


def test_each_backend_leaves_the_others_packages_out() -> None:
    xray_model = "botocore/data/xray/2016-04-12/service-2.json.gz"
    for name in ("aws_xray_sdk/core/__init__.py", "wrapt-1.17.2.dist-info/METADATA", xray_model):
        assert _dropped(name, "opentelemetry"), name
        assert _dropped(name, "xray-sdk") is None, name
    for name in (
        "opentelemetry/sdk/trace/__init__.py",
        "opentelemetry_sdk-1.45.2.dist-info/METADATA",
        "google/protobuf/message.py",
        "protobuf-7.36.2.dist-info/METADATA",
    ):
        assert _dropped(name, "xray-sdk"), name
        assert _dropped(name, "opentelemetry") is None, name
    # The app imports both libraries (in chalicelib/tracing.py); either zip is complete.
    for backend in ("opentelemetry", "xray-sdk"):
        check_imports_kept(ROOT, backend)
