"""The running stack's status file: where things listen, how each part is, the worker's heartbeat.

The stack rewrites it five times a second: ``state`` (starting, running, or
failed with a ``failure``), where each server listens (``api``, ``web``,
``cache``: null where nginx is missing, ``dynamodb``), and per part (``parts``:
dynamodb, worker, api, web, cache) its ``state`` (starting, up, restarting,
down), ``pid``, ``restarts`` and ``last_error``; ``worker`` adds the stream
worker's counters, ``lag_seconds`` (the age of the oldest record not yet
counted, ``chalicelib.stream.lag``) and ``heartbeat_at``. The simulator, the
leaderboard, the reconciler, the demo and the tests read it instead of being
told every port.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

from local.processes import wait_until

FILE_NAME = "stack-status.json"


def path(data_dir: Path) -> Path:
    return data_dir / FILE_NAME


def write(data_dir: Path, status: dict[str, Any]) -> None:
    target = path(data_dir)
    temporary = target.with_suffix(".tmp")
    temporary.write_text(json.dumps(status, indent=2))
    temporary.replace(target)  # atomic: a reader never sees half a file


def read(data_dir: Path) -> dict[str, Any] | None:
    """The status of a running stack; ``None`` when none runs (no file, or a dead pid)."""
    try:
        status: dict[str, Any] = json.loads(path(data_dir).read_text())
    except (OSError, ValueError):
        return None
    try:
        os.kill(int(status["pid"]), 0)
    except (OSError, KeyError, ValueError):
        return None
    return status


def wait(data_dir: Path, timeout: float = 120.0) -> dict[str, Any]:
    """The status of a stack once every part is up (``state`` is ``running``)."""

    def running() -> dict[str, Any] | None:
        status = read(data_dir)
        return status if status is not None and status.get("state") == "running" else None

    return wait_until(running, timeout, f"a running stack writing {path(data_dir)}", interval=0.2)


def last(data_dir: Path) -> dict[str, Any] | None:
    """The status file as last written, whether or not its stack still runs."""
    try:
        status: dict[str, Any] = json.loads(path(data_dir).read_text())
    except (OSError, ValueError):
        return None
    return status
