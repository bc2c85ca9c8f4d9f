"""The deployment zip as Lambda runs it: read-only, its own bytecode used, nothing extra.

Each stage's zip is unpacked into a read-only folder and imported by a fresh
``python -I -S`` whose ``sys.path`` holds the standard library and that folder
only, as Lambda's /var/task. The stream path and the GraphQL path run against
moto's DynamoDB server; the child records every module compiled from source.
"""

from __future__ import annotations

import importlib.metadata
import importlib.util
import json
import marshal
import os
import shutil
import stat
import subprocess
import sys
import sysconfig
import zipfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import boto3
import pytest

from chalicelib.aws import DEPLOYED_SERVICES
from chalicelib.settings import TRACING_BACKENDS, from_env
from devtools.xray_daemon import XRayDaemon
from infra.package import Package, package
from infra.shipped_zip import (
    ShipError,
    _dropped,
    check_imports_kept,
    check_interpreter,
    runtime_of,
    ship_zip,
)
from infra.stages import ROOT, stage
from infra.tables import TableNames, ensure_tables
from local.dynamodb_local import free_port
from tests.support import stream_event, stream_record

MAX_ZIP_BYTES = 6_000_000  # issue #10: at most 6 MB
# PEP 552 flags: bit 0 hash-based, bit 1 check the source. 0b01: never look at the source.
UNCHECKED_HASH = 0b01
TABLES = TableNames("favorites-shipped", "favorite-counts-shipped")
STREAM_ARN = "arn:aws:dynamodb:us-east-1:123456789012:table/favorites-shipped/stream/2026-11-01"
TOP_QUERY = "{ topRestaurants(first: 3) { edges { favoriteCount node { id } } } }"

# Runs in `python -I -S`: the standard library only until the folder is added.
CHILD = """
import importlib.machinery, importlib.util, json, sys
request = json.loads(sys.stdin.read())
folder = request["folder"]
compiled = []
to_code = importlib.machinery.SourceFileLoader.source_to_code

def source_to_code(self, data, path, *args, **kwargs):
    # The loader compiles from source only when it has no usable .pyc.
    compiled.append(path)
    return to_code(self, data, path, *args, **kwargs)

importlib.machinery.SourceFileLoader.source_to_code = source_to_code
sys.path.insert(0, folder)  # Lambda puts /var/task first
import app
stream = app.aggregate_favorites(request["stream"], None)
import chalicelib.api.view  # the GraphQL route imports it on first use
graphql = app.app(request["graphql"], None)
import boto3
client = boto3.client(
    "dynamodb", region_name="us-east-1", aws_access_key_id="x", aws_secret_access_key="x"
)
client.get_paginator("query")
client.get_waiter("table_exists")
modules = {
    name: {"file": module.__file__, "cached": getattr(module.__spec__, "cached", None)}
    for name, module in list(sys.modules.items())
    if getattr(module, "__file__", None)
}
print(json.dumps({
    "stream": stream, "graphql": graphql, "modules": modules, "compiled": compiled,
    "path": sys.path, "magic": importlib.util.MAGIC_NUMBER.hex(),
    "version": list(sys.version_info[:2]),
}))
"""


def _api_event(body: str) -> dict[str, Any]:
    path = "/public/graphql"
    return {
        "resource": path,
        "path": path,
        "httpMethod": "POST",
        "headers": {"Content-Type": "application/json"},
        "multiValueQueryStringParameters": None,
        "pathParameters": None,
        "stageVariables": None,
        "requestContext": {"resourcePath": path, "httpMethod": "POST", "stage": "api"},
        "body": body,
        "isBase64Encoded": False,
    }


@pytest.fixture(scope="module")
def dynamodb_endpoint() -> Iterator[str]:
    from moto.server import ThreadedMotoServer

    port = free_port()
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
    server.start()
    endpoint = f"http://127.0.0.1:{port}"
    client = boto3.client(
        "dynamodb",
        endpoint_url=endpoint,
        region_name="us-east-1",
        aws_access_key_id="local",
        aws_secret_access_key="local",
    )
    ensure_tables(client, TABLES)
    try:
        yield endpoint
    finally:
        server.stop()


def _unpack(zip_path: Path, folder: Path) -> Path:
    with zipfile.ZipFile(zip_path) as archive:
        archive.extractall(folder)
    # Lambda's /var/task is read-only: no import can write a .pyc there.
    for path in [folder, *folder.rglob("*")]:
        path.chmod(path.stat().st_mode & ~(stat.S_IWUSR | stat.S_IWGRP | stat.S_IWOTH))
    return folder


def _make_writable(folder: Path) -> None:
    for path in [folder, *folder.rglob("*")]:
        path.chmod(path.stat().st_mode | stat.S_IWUSR)


@pytest.fixture
def unpacked(packaged: Package, tmp_path: Path) -> Iterator[Path]:
    folder = _unpack(packaged.zip_path, tmp_path / "task")
    try:
        yield folder
    finally:
        _make_writable(folder)  # so pytest can clean it up


def _lambda_env(endpoint: str, **extra: str) -> dict[str, str]:
    """The shipped stage's variables on DynamoDB Local, and nothing of this process's."""
    return {
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
        "DYNAMODB_ENDPOINT_URL": endpoint,
        **extra,
    }


def _run_as_lambda(folder: Path, endpoint: str, restaurant: str) -> dict[str, Any]:
    # As in Lambda, where active tracing loads the stage's tracing backend
    # (tests/deploy/test_shipped_tracing.py reads what it sends).
    env = _lambda_env(endpoint, TRACING_ENABLED="true")
    record = stream_record(
        "INSERT", restaurant, "u1", "2026-11-23T10:00:00Z", stream_arn=STREAM_ARN
    )
    request = {
        "folder": str(folder),
        "stream": stream_event([record]),
        "graphql": _api_event(json.dumps({"query": TOP_QUERY})),
    }
    result = subprocess.run(
        # -B: root may write in a read-only folder; Lambda's /var/task takes no writes.
        [sys.executable, "-I", "-S", "-B", "-c", CHILD],
        input=json.dumps(request),
        cwd=folder,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    return dict(json.loads(result.stdout.splitlines()[-1]))


def _pyc_header(data: bytes) -> tuple[bytes, int]:
    return data[:4], int.from_bytes(data[4:8], "little")


def test_both_paths_run_read_only_from_the_zip_on_its_own_bytecode(
    packaged: Package, unpacked: Path, dynamodb_endpoint: str
) -> None:
    restaurant = f"r-{packaged.stage}"  # the stages share the tables
    report = _run_as_lambda(unpacked, dynamodb_endpoint, restaurant)
    assert report["stream"] == {"batchItemFailures": []}
    body = json.loads(report["graphql"]["body"])
    assert "errors" not in body, body
    top = body["data"]["topRestaurants"]["edges"]
    assert {"favoriteCount": 1, "node": {"id": restaurant}} in top  # the batch really ran

    # Nothing but the standard library and the zip's folder on sys.path.
    stdlib = [Path(sysconfig.get_path(key)) for key in ("stdlib", "platstdlib")]
    stdlib_roots = {Path(sys.base_prefix), Path(sys.base_exec_prefix)}
    for entry in report["path"]:
        path = Path(entry)
        assert path == unpacked or any(path.is_relative_to(root) for root in stdlib_roots), entry
        assert "site-packages" not in path.parts, entry

    from_zip = {}
    for name, module in report["modules"].items():
        path = Path(module["file"])
        if path.is_relative_to(unpacked):
            from_zip[name] = module
        else:  # the standard library, never the project tree or a venv
            assert any(path.is_relative_to(root) for root in stdlib), (name, path)
    for expected in (
        "app",
        "chalicelib.stream.handler",
        "chalicelib.api.view",
        "strawberry.chalice",
    ):
        assert expected in from_zip
    tracer = {
        "opentelemetry": "opentelemetry.sdk.trace",
        "xray-sdk": "aws_xray_sdk.core",
    }[from_env(stage(packaged.stage).environment).tracing_backend]
    for expected in ("botocore.client", tracer, "graphql.execution"):
        assert expected in from_zip

    # No module of the zip was compiled from source: every one used its shipped .pyc.
    assert [path for path in report["compiled"] if Path(path).is_relative_to(unpacked)] == []
    with zipfile.ZipFile(packaged.zip_path) as archive:
        names = set(archive.namelist())
    magic = bytes.fromhex(report["magic"])
    for name, module in from_zip.items():
        if not module["file"].endswith(".py"):
            assert module["file"].endswith(".so"), name  # an extension module has no bytecode
            continue
        cached = Path(module["cached"])
        assert cached == Path(importlib.util.cache_from_source(module["file"]))
        assert cached.relative_to(unpacked).as_posix() in names, name
        assert _pyc_header(cached.read_bytes()) == (magic, UNCHECKED_HASH), name

    # That bytecode is the template's runtime's: the child ran that Python version.
    assert runtime_of(packaged.template()) == "python{}.{}".format(*report["version"])


def test_every_module_ships_bytecode_for_the_templates_runtime(packaged: Package) -> None:
    runtime = runtime_of(packaged.template())
    tag = "cpython-" + runtime.removeprefix("python").replace(".", "")
    assert runtime == f"python{sys.version_info.major}.{sys.version_info.minor}"
    with zipfile.ZipFile(packaged.zip_path) as archive:
        names = set(archive.namelist())
        sources = sorted(name for name in names if name.endswith(".py"))
        assert len(sources) > 300
        for source in sources:
            folder, _, module = source.rpartition("/")
            cached = f"{folder}/__pycache__/{module[:-3]}.{tag}.pyc".lstrip("/")
            assert cached in names, source
            data = archive.read(cached)
            assert _pyc_header(data) == (importlib.util.MAGIC_NUMBER, UNCHECKED_HASH), cached
            # Tracebacks name the file where Lambda unpacks it.
            assert marshal.loads(data[16:]).co_filename == f"/var/task/{source}"
        # Bytecode for nothing else: no stale or foreign .pyc.
        pycs = {name for name in names if name.endswith(".pyc")}
        assert all(f".{tag}.pyc" in name and "/__pycache__/" in f"/{name}" for name in pycs)
        assert len(pycs) == len(sources)


def test_zip_leaves_out_what_no_function_loads(packaged: Package) -> None:
    assert packaged.zip_path.stat().st_size <= MAX_ZIP_BYTES
    with zipfile.ZipFile(packaged.zip_path) as archive:
        names = archive.namelist()
    tops = {name.split("/", 1)[0] for name in names}

    def present(prefix: str) -> bool:
        return any(name.startswith(prefix) for name in names)

    services = {name.split("/")[2] for name in names if name.startswith("botocore/data/")}
    services = {service for service in services if not service.endswith(".json")}
    assert set(DEPLOYED_SERVICES) == {"dynamodb", "xray"}
    # xray: the X-Ray SDK's sampling client, shipped with that tracing backend only.
    xray_sdk = from_env(stage(packaged.stage).environment).tracing_backend == "xray-sdk"
    assert services == ({"dynamodb", "xray"} if xray_sdk else {"dynamodb"})
    assert not present("botocore/data/ec2/")
    assert not present("botocore/data/dynamodbstreams/")  # only the local stack reads streams
    for shared in ("endpoints.json", "partitions.json", "sdk-default-configuration.json"):
        assert f"botocore/data/{shared}" in names
    assert "botocore/data/_retry.json" in names
    assert "botocore/data/dynamodb/2012-08-10/service-2.json.gz" in names
    assert {name.split("/")[2] for name in names if name.startswith("boto3/data/")} == {"dynamodb"}
    assert "botocore/cacert.pem" in names  # HTTPS to DynamoDB
    for framework in ("django", "flask", "fastapi", "aiohttp", "asgi", "sanic", "litestar"):
        assert not present(f"strawberry/{framework}/"), framework
    assert not present("strawberry/cli/")
    assert not present("strawberry/codegen/")
    for used in ("strawberry/chalice/", "strawberry/federation/", "strawberry/static/"):
        assert present(used), used
    if xray_sdk:
        assert not present("aws_xray_sdk/ext/django/")
        assert present("aws_xray_sdk/ext/botocore/")
        assert "opentelemetry" not in tops
    else:  # tests/deploy/test_shipped_tracing.py says more
        assert "aws_xray_sdk" not in tops
        assert present("opentelemetry/sdk/trace/")
    assert "packaging" not in tops
    assert not any(name.endswith(".pyi") or name.split("/")[0].endswith("-stubs") for name in names)


def test_zip_keeps_the_sdk_versions_the_tests_ran_against(packaged: Package) -> None:
    with zipfile.ZipFile(packaged.zip_path) as archive:
        tops = {name.split("/", 1)[0] for name in archive.namelist()}
    tracer = {"opentelemetry": "opentelemetry_sdk", "xray-sdk": "aws_xray_sdk"}[
        from_env(stage(packaged.stage).environment).tracing_backend
    ]
    for distribution in ("boto3", "botocore", "strawberry_graphql", tracer):
        version = importlib.metadata.version(distribution)
        assert f"{distribution}-{version}.dist-info" in tops


def test_shipping_is_deterministic(packaged: Package, tmp_path: Path) -> None:
    # Shipping the shipped zip again recompiles every module: same bytes.
    again = tmp_path / "deployment.zip"
    shutil.copy(packaged.zip_path, again)
    ship_zip(again, runtime_of(packaged.template()))
    assert again.read_bytes() == packaged.zip_path.read_bytes()


def test_packaging_refuses_another_python_than_the_runtime(
    packaged: Package, tmp_path: Path
) -> None:
    other = f"python3.{sys.version_info.minor + 1}"
    with pytest.raises(ShipError, match=f"Runtime is {other}"):
        check_interpreter(other)
    copy = tmp_path / "deployment.zip"
    shutil.copy(packaged.zip_path, copy)
    with pytest.raises(ShipError):
        ship_zip(copy, other)
    assert copy.read_bytes() == packaged.zip_path.read_bytes()  # left as it was
    template = packaged.template()
    function = next(
        r for r in template["Resources"].values() if r["Type"] == "AWS::Serverless::Function"
    )
    function["Properties"]["Runtime"] = other
    with pytest.raises(ShipError, match=r"one python3\.x Runtime"):
        runtime_of(template)


def test_packaging_refuses_to_drop_a_module_the_app_imports(tmp_path: Path) -> None:
    (tmp_path / "chalicelib").mkdir()
    (tmp_path / "app.py").write_text("import strawberry.federation\n")
    (tmp_path / "chalicelib" / "view.py").write_text("from strawberry.chalice.views import X\n")
    check_imports_kept(tmp_path)  # both are shipped
    (tmp_path / "chalicelib" / "django.py").write_text("from strawberry.django import views\n")
    with pytest.raises(ShipError, match=r"strawberry\.django"):
        check_imports_kept(tmp_path)


# The zip traced as Lambda runs it ---------------------------------------------
# Each zip carries one tracing backend: the stage's (``dev``, as ``make package``
# builds it) and the same stage packaged with the other backend, so that either
# is known to fit and to work. Started read-only with Lambda's environment:
# tracing on (``AWS_LAMBDA_FUNCTION_NAME``), ``LAMBDA_TASK_ROOT``, a trace header
# and ``AWS_XRAY_DAEMON_ADDRESS`` pointing at a stand-in daemon, which must
# receive the invocation's spans.

ROOT_ID, PARENT = "1-69300000-0000000000000000000000aa", "00000000000000aa"
TRACED_CHILD = """
import json, sys
request = json.loads(sys.stdin.read())
sys.path.insert(0, request["folder"])
import app
print(json.dumps(app.aggregate_favorites(request["stream"], None)))
libraries = ("aws_xray_sdk", "opentelemetry", "google", "wrapt")
print(json.dumps(sorted({name.split(".")[0] for name in sys.modules} & set(libraries))))
"""


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
            env = _lambda_env(
                dynamodb_endpoint,
                TRACING_BACKEND=backend,
                # What Lambda sets for a function with active tracing.
                AWS_LAMBDA_FUNCTION_NAME="favorites-shipped-aggregate",
                LAMBDA_TASK_ROOT=str(folder),
                _X_AMZN_TRACE_ID=f"Root={ROOT_ID};Parent={PARENT};Sampled=1",
                AWS_XRAY_DAEMON_ADDRESS=daemon.address,
            )
            done = subprocess.run(
                [sys.executable, "-I", "-S", "-B", "-c", TRACED_CHILD],
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
    # The app imports both libraries (in chalicelib/tracing/); either zip is complete.
    for backend in ("opentelemetry", "xray-sdk"):
        check_imports_kept(ROOT, backend)
