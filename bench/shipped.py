"""The deployment zips the cold start section runs, unpacked as Lambda unpacks them.

- ``service_zips``: ``dist/<stage>/deployment.zip`` as ``make package`` ships it
  (built into a scratch dist when missing or older than its inputs), and the
  same stage packaged the old way (chalice's zip without :func:`ship_zip`).
- ``bare_zips``: the bare Chalice app (bench/baselines.py), packaged by chalice
  the same two ways.
- ``unpack``: a read-only folder (Lambda's /var/task), or a writable copy
  without shipped bytecode, where Python writes its own cache on a first run.
"""

from __future__ import annotations

import json
import re
import shutil
import stat
import zipfile
from dataclasses import dataclass
from pathlib import Path

from bench.baselines import BARE_APP
from infra.package import DIST, chalice_package, package
from infra.shipped_zip import runtime_of, ship_zip
from infra.stages import ROOT

STAGE = "dev"
# What the shipped zip is made of: newer than the zip means the zip is stale.
_INPUTS = ("app.py", "requirements.txt", ".chalice", "chalicelib", "infra")
# The bare app's project lives on so chalice's dependency cache
# (.chalice/deployments) spares pip a download on every bench run.
BARE_PROJECT = DIST / "bench" / "bare-app"


@dataclass(frozen=True)
class Zips:
    shipped: Path
    before: Path
    # Where the shipped zip came from, for the report.
    origin: str
    # The stage packaged with the other tracing backend (TRACING_BACKEND), when asked.
    other_tracing: Path | None = None


def _newest_input() -> float:
    newest = 0.0
    for name in _INPUTS:
        path = ROOT / name
        files = [path] if path.is_file() else [p for p in path.rglob("*") if p.is_file()]
        for file in files:
            if "__pycache__" not in file.parts and "deployments" not in file.parts:
                newest = max(newest, file.stat().st_mtime)
    return newest


def _has_bytecode(path: Path) -> bool:
    with zipfile.ZipFile(path) as archive:
        return any(name.endswith(".pyc") for name in archive.namelist())


def service_zips(scratch: Path, other_tracing: str | None = None) -> Zips:
    """The shipped zip, the old way's, and the stage packaged with ``other_tracing``
    as its tracing backend (the zip carries one backend: infra/package.py)."""
    current = DIST / STAGE / "deployment.zip"
    if current.exists() and current.stat().st_mtime > _newest_input() and _has_bytecode(current):
        shipped, origin = current, f"dist/{STAGE}/deployment.zip (make package)"
    else:
        shipped = package(STAGE, scratch / "after").zip_path
        origin = f"dist/{STAGE}/deployment.zip was missing or stale: built by infra.package"
    before = package(STAGE, scratch / "before", ship=False).zip_path
    other = None
    if other_tracing is not None:
        other = package(STAGE, scratch / other_tracing, tracing_backend=other_tracing).zip_path
    return Zips(shipped, before, origin, other)


def _pinned(distribution: str) -> str:
    for line in (ROOT / "requirements.txt").read_text().splitlines():
        if re.match(rf"{distribution}==", line.strip()):
            return line.strip()
    raise LookupError(f"requirements.txt pins no {distribution}")


def bare_zips(scratch: Path) -> Zips:
    """The bare app packaged by chalice, with the service's pinned boto3."""
    BARE_PROJECT.mkdir(parents=True, exist_ok=True)
    (BARE_PROJECT / "app.py").write_text(BARE_APP)
    (BARE_PROJECT / "requirements.txt").write_text(_pinned("boto3") + "\n")
    config = {"version": "2.0", "app_name": "bare", "stages": {STAGE: {}}}
    (BARE_PROJECT / ".chalice").mkdir(exist_ok=True)
    (BARE_PROJECT / ".chalice" / "config.json").write_text(json.dumps(config))
    output = scratch / "bare"
    shutil.rmtree(output, ignore_errors=True)
    chalice_package(BARE_PROJECT, STAGE, output)
    before = scratch / "bare-before.zip"
    shutil.copy(output / "deployment.zip", before)
    template = json.loads((output / "sam.json").read_text())
    ship_zip(output / "deployment.zip", runtime_of(template))
    return Zips(output / "deployment.zip", before, "chalice package of bench/baselines.py BARE_APP")


def unpack(zip_path: Path, folder: Path, *, read_only: bool) -> Path:
    """Lambda's view (read-only, as shipped), or a writable copy without shipped bytecode."""
    with zipfile.ZipFile(zip_path) as archive:
        archive.extractall(folder)
    if read_only:
        for path in [folder, *folder.rglob("*")]:
            path.chmod(path.stat().st_mode & ~(stat.S_IWUSR | stat.S_IWGRP | stat.S_IWOTH))
    else:
        for cache in list(folder.rglob("__pycache__")):
            shutil.rmtree(cache)
    return folder


def make_writable(folder: Path) -> None:
    """So that a temporary directory holding a read-only folder can be removed."""
    for path in [folder, *folder.rglob("*")]:
        if not path.is_symlink():
            path.chmod(path.stat().st_mode | stat.S_IWUSR)
