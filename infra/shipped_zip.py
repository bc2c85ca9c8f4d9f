"""The deployment zip as Lambda should run it: lean, with bytecode it uses as it is.

Chalice zips the dependencies as pip installed them: every service model of
botocore, strawberry's integrations with other frameworks, type stubs, and no
bytecode Lambda can use (``/var/task`` is read-only, so every cold start would
compile every module again). :func:`ship_zip` rewrites the zip: it leaves out
what no function loads (:func:`_dropped` gives the reason for each file) and
ships bytecode for the template's runtime beside each ``.py``. It refuses to
compile with another Python than that runtime (:func:`check_interpreter`), and
the pipeline (``infra/package.py``) first checks that nothing the app imports
would be left out (:func:`check_imports_kept`).
"""

from __future__ import annotations

import ast
import importlib.util
import py_compile
import sys
import tempfile
import zipfile
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath
from typing import Any

from chalicelib.aws import DEPLOYED_SERVICES
from chalicelib.settings import DEFAULT_TRACING_BACKEND


class ShipError(RuntimeError):
    """The zip cannot be made to run as shipped (wrong Python, a needed module dropped)."""


# Where Lambda unpacks the zip: the path tracebacks show for shipped bytecode.
TASK_ROOT = PurePosixPath("/var/task")
# Fixed zip entry times: the same inputs give the same bytes.
ZIP_EPOCH = (1980, 1, 1, 0, 0, 0)
# strawberry's integrations with other web frameworks and its developer tools:
# no function imports them (chalicelib/api uses strawberry.chalice).
# strawberry.federation stays: the schema is a federation subgraph.
UNUSED_STRAWBERRY = (
    "aiohttp",
    "asgi",
    "channels",
    "django",
    "fastapi",
    "flask",
    "litestar",
    "quart",
    "sanic",
    "pydantic",
    "experimental/pydantic",
    "cli",
    "codegen",
    "codemods",
    "schema_codegen",
    "ext",  # the mypy plugin
    "test",
    "__main__.py",
    # Tracing for Apollo, Datadog and OpenTelemetry (X-Ray is chalicelib/tracing/).
    "extensions/tracing",
)
# Whole distributions nothing in a function imports: packaging serves only
# strawberry's Datadog tracing; dateutil's zoneinfo is the fallback tz database
# of dateutil.tz.gettz, which neither botocore nor the app calls.
UNUSED_TOP_LEVEL = ("packaging",)
UNUSED_PATHS = ("dateutil/zoneinfo",)
# X-Ray patches botocore only (chalicelib/tracing/); its other patchers stay out.
USED_XRAY_EXT = ("__init__.py", "boto_utils.py", "util.py", "botocore", "resources")
# Each tracing backend's distributions (top-level names; their .dist-info too). The
# zip carries the stage's backend (TRACING_BACKEND) only: the other never loads.
TRACING_PACKAGES = {
    "opentelemetry": ("opentelemetry", "google", "protobuf"),
    "xray-sdk": ("aws_xray_sdk", "wrapt"),
}
# Of the OpenTelemetry SDK, only tracing loads (chalicelib/tracing/): not its
# metrics, logs, events or autoconfiguration, nor OTLP's other signals.
UNUSED_OPENTELEMETRY = (
    "_events",
    "_logs",
    "sdk/_configuration",
    "sdk/_events",
    "sdk/_logs",
    "sdk/metrics",
    "sdk/trace/_sampling_experimental",
    "semconv/metrics",
    "semconv/trace",
    "proto/collector/logs",
    "proto/collector/metrics",
    "proto/collector/profiles",
    "proto/logs",
    "proto/metrics",
    "proto/profiles",
    "exporter/otlp/proto/common/_log_encoder",
    "exporter/otlp/proto/common/metrics_encoder.py",
    "exporter/otlp/proto/common/_internal/_log_encoder",
    "exporter/otlp/proto/common/_internal/metrics_encoder",
)
# The incubating semantic conventions (hundreds of modules): the SDK's tracing
# loads its own attributes and metrics only.
USED_INCUBATING = (
    "__init__.py",
    "attributes/__init__.py",
    "attributes/otel_attributes.py",
    "metrics/__init__.py",
    "metrics/otel_metrics.py",
)


@dataclass
class ShipReport:
    """What :func:`ship_zip` left out (files and unzipped bytes per reason) and compiled."""

    runtime: str
    removed: dict[str, list[int]] = field(default_factory=dict)
    compiled: int = 0
    not_compiled: list[str] = field(default_factory=list)

    def remove(self, reason: str, size: int) -> None:
        files_bytes = self.removed.setdefault(reason, [0, 0])
        files_bytes[0] += 1
        files_bytes[1] += size

    def text(self) -> str:
        lines = [
            f"bytecode: {self.compiled} modules compiled for {self.runtime} "
            "(unchecked-hash .pyc beside each .py, paths under /var/task)",
            f"kept SDK models: {', '.join(DEPLOYED_SERVICES)} (chalicelib.aws.DEPLOYED_SERVICES) "
            "and botocore's shared data (endpoints, partitions, retries, defaults)",
            "removed (files, unzipped):",
        ]
        lines += [
            f"  {files:5d} files {size / 1e6:6.2f} MB  {reason}"
            for reason, (files, size) in sorted(self.removed.items(), key=lambda kv: -kv[1][1])
        ]
        if self.not_compiled:
            shown = ", ".join(self.not_compiled)
            lines.append(f"shipped without bytecode (not valid {self.runtime}): {shown}")
        return "\n".join(lines)


def runtime_of(template: dict[str, Any]) -> str:
    """The one Python runtime of the functions that run the zip, e.g. ``python3.11``."""
    default = template.get("Globals", {}).get("Function", {}).get("Runtime")
    runtimes = {
        resource["Properties"].get("Runtime", default)
        for resource in template["Resources"].values()
        if resource["Type"] == "AWS::Serverless::Function"
        and resource["Properties"].get("CodeUri") == "./deployment.zip"
    }
    if len(runtimes) != 1 or not str(next(iter(runtimes))).startswith("python3."):
        raise ShipError(f"the functions must share one python3.x Runtime, found {runtimes}")
    return str(runtimes.pop())


def check_interpreter(runtime: str) -> None:
    """Bytecode is only valid for the Python version that wrote it."""
    here = f"python{sys.version_info.major}.{sys.version_info.minor}"
    if here != runtime:
        raise ShipError(
            f"the template's Runtime is {runtime} but this is {here} ({sys.executable}): "
            f"package with {runtime} (PYTHON=python{runtime[6:]} make clean install), "
            "or its bytecode would be ignored and recompiled on every cold start"
        )


def _distribution(top_level: str) -> str:
    """``wrapt`` of ``wrapt`` and of ``wrapt-1.17.2.dist-info``."""
    return top_level.split("-", 1)[0] if top_level.endswith(".dist-info") else top_level


def _other_backends_package(top_level: str, tracing_backend: str) -> bool:
    name = _distribution(top_level)
    return any(
        name == package or name.startswith(f"{package}_")
        for backend, packages in TRACING_PACKAGES.items()
        if backend != tracing_backend
        for package in packages
    )


def _dropped(name: str, tracing_backend: str = DEFAULT_TRACING_BACKEND) -> str | None:
    """Why ``name`` (a path in the zip) stays out of it, or None to keep it."""
    parts = name.split("/")
    if "__pycache__" in parts or name.endswith(".pyc"):
        return "bytecode chalice copied (recompiled for the runtime)"
    if _other_backends_package(parts[0], tracing_backend):
        return "the tracing backend the stage does not use (TRACING_BACKEND)"
    if parts[0] in ("botocore", "boto3") and parts[1:2] == ["data"] and len(parts) > 3:
        if parts[2] not in DEPLOYED_SERVICES:
            return "SDK models of services no function calls"
        if parts[2] == "xray" and tracing_backend != "xray-sdk":
            return "SDK models of services no function calls"  # the X-Ray SDK's sampling client
        if parts[-1].startswith("examples-"):
            return "SDK request examples (documentation only)"
    rest = "/".join(parts[1:])
    if parts[0] == "strawberry" and any(
        rest == unused or rest.startswith(f"{unused}/") for unused in UNUSED_STRAWBERRY
    ):
        return "strawberry's other framework integrations and developer tools"
    if parts[:2] == ["aws_xray_sdk", "ext"] and parts[2] not in USED_XRAY_EXT:
        return "X-Ray patchers for libraries the functions do not use"
    if parts[0] == "opentelemetry" and (
        any(rest == unused or rest.startswith(f"{unused}/") for unused in UNUSED_OPENTELEMETRY)
        or (
            rest.startswith("semconv/_incubating/")
            and rest.removeprefix("semconv/_incubating/") not in USED_INCUBATING
        )
    ):
        return "OpenTelemetry's metrics, logs and conventions that tracing does not load"
    if (
        parts[0] in UNUSED_TOP_LEVEL
        or (parts[0].startswith("packaging-") and parts[0].endswith(".dist-info"))
        or any(name.startswith(f"{unused}/") for unused in UNUSED_PATHS)
    ):
        return "packages and data no function imports (packaging, dateutil's zoneinfo)"
    if parts[0].endswith(".dist-info") and parts[-1] == "RECORD":
        return "pip's install records (they would list the files left out)"
    if parts[0].endswith("-stubs") or name.endswith((".pyi", "/py.typed")):
        return "type stubs"
    if name.endswith((".c", ".h")) or parts[0].endswith(".data"):
        return "C sources and scripts"
    return None


def _imports(paths: Iterable[Path]) -> set[str]:
    """Every module the app's own code imports, by its dotted name."""
    found: set[str] = set()
    for path in paths:
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            if isinstance(node, ast.Import):
                found.update(alias.name for alias in node.names)
            elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
                found.add(node.module)
                found.update(f"{node.module}.{alias.name}" for alias in node.names)
    return found


def check_imports_kept(project: Path, tracing_backend: str = DEFAULT_TRACING_BACKEND) -> None:
    """Refuse to drop a module the app imports (say, a strawberry integration it starts using);
    the tracing backend the stage does not use is left out on purpose."""
    code = [project / "app.py", *(project / "chalicelib").rglob("*.py")]
    for module in sorted(_imports(path for path in code if path.exists())):
        path = module.replace(".", "/")
        if _other_backends_package(path.split("/")[0], tracing_backend):
            continue
        if _dropped(f"{path}/__init__.py", tracing_backend) or _dropped(
            f"{path}.py", tracing_backend
        ):
            raise ShipError(
                f"the app imports {module}, which infra/shipped_zip.py leaves out of the zip"
            )


def ship_zip(
    path: Path, runtime: str, tracing_backend: str = DEFAULT_TRACING_BACKEND
) -> ShipReport:
    """Rewrite the zip as it should run: lean, with bytecode Lambda uses as it is.

    Lambda's /var/task is read-only, so without shipped bytecode every cold
    start compiles every module again. The .pyc files are unchecked-hash ones
    (PEP 552): the loader uses them without looking at the source's timestamp,
    which the zip does not keep anyway. The .py files stay for tracebacks.
    Entries are sorted with fixed times, so the same inputs give the same zip.
    """
    check_interpreter(runtime)
    report = ShipReport(runtime)
    with tempfile.TemporaryDirectory() as scratch:
        root = Path(scratch)
        kept: dict[str, zipfile.ZipInfo] = {}
        with zipfile.ZipFile(path) as source:
            for info in source.infolist():
                reason = _dropped(info.filename, tracing_backend)
                if reason is None:
                    kept[info.filename] = info
                    source.extract(info, root)
                else:
                    report.remove(reason, info.file_size)
        compiled: dict[str, Path] = {}
        for name in sorted(kept):
            if not name.endswith(".py"):
                continue
            cached = importlib.util.cache_from_source(name, optimization="")
            try:
                py_compile.compile(
                    str(root / name),
                    cfile=str(root / cached),
                    dfile=str(TASK_ROOT / name),
                    doraise=True,
                    invalidation_mode=py_compile.PycInvalidationMode.UNCHECKED_HASH,
                )
            except py_compile.PyCompileError:
                # Only a module this Python cannot import (another version's
                # syntax, a template): nothing would load it.
                report.not_compiled.append(name)
                continue
            compiled[cached] = root / cached
        report.compiled = len(compiled)
        entries = {name: root / name for name in kept} | compiled
        shipped = path.with_suffix(".tmp")
        with zipfile.ZipFile(shipped, "w", zipfile.ZIP_DEFLATED, compresslevel=9) as target:
            for name in sorted(entries):
                info = zipfile.ZipInfo(name, ZIP_EPOCH)
                info.create_system = 3  # unix, so the mode below is honoured
                info.external_attr = kept[name].external_attr if name in kept else 0o100644 << 16
                info.compress_type = zipfile.ZIP_DEFLATED
                target.writestr(info, entries[name].read_bytes())
    shipped.replace(path)
    return report


def strip_byte_code(path: Path) -> None:
    """Chalice copies chalicelib/ as it is, __pycache__ included: drop it, and
    keep the rest as chalice zipped it (the benchmark's "before")."""
    kept = path.with_suffix(".tmp")
    with zipfile.ZipFile(path) as source, zipfile.ZipFile(kept, "w") as target:
        for info in source.infolist():
            if "__pycache__/" in info.filename or info.filename.endswith(".pyc"):
                continue
            target.writestr(info, source.read(info), compress_type=info.compress_type)
    kept.replace(path)
