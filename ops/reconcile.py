"""Reconcile a stage's favorite counts from this machine, with a progress bar.

    .venv/bin/python -m ops.reconcile                  # the running local stack, report only
    .venv/bin/python -m ops.reconcile --data-dir /tmp/stack --repair
    .venv/bin/python -m ops.reconcile --stage dev --repair --ignore-lag
    python -m ops.reconcile --environment --repair     # the tables the environment names

Without ``--stage`` it reconciles the local stack running on ``--data-dir``
(``.data`` by default), found through its status file: its DynamoDB endpoint
and tables. With ``--stage`` the stage's environment comes from
``.chalice/config.json`` (as ``chalice`` deploys it) and the machine's AWS
credentials. ``--repair`` refuses while the stream handler is more than
``--max-lag`` seconds behind (or, locally, its worker is not up and beating),
since a change still in flight would be taken for drift; ``--ignore-lag`` goes
ahead anyway. The lag of a deployed stage cannot be read from here, so there it
takes ``--ignore-lag``, once its ``lag_seconds`` (the batch log line) is checked.
With ``--environment`` the process's own environment names the tables (Lambda,
CI): no stage lookup, no lag check, no progress bar; that is :func:`run`.
"""

from __future__ import annotations

import argparse
import json
import sys
import threading
import time
from dataclasses import asdict
from pathlib import Path
from typing import TYPE_CHECKING, Any

from rich import progress as rich_progress
from rich.console import Console

from chalicelib.reconcile.store import no_progress
from chalicelib.services import Services
from chalicelib.settings import from_environment
from ops.target import add_target_arguments, target_environment

if TYPE_CHECKING:
    from mypy_boto3_dynamodb import DynamoDBClient

    from chalicelib.reconcile.report import ReconcileReport
    from chalicelib.reconcile.store import Progress


class ProgressBar:
    """Items scanned per table against DynamoDB's approximate item count, on stderr (rich).

    The count is refreshed about every six hours: a table's total grows to what
    has been scanned when it is behind.
    """

    def __init__(self, totals: dict[str, int], console: Console | None = None) -> None:
        self._totals = dict(totals)
        self._done = dict.fromkeys(totals, 0)
        self._lock = threading.Lock()  # scan segments report from their own threads
        self._progress = rich_progress.Progress(
            rich_progress.TextColumn("{task.description}"),
            rich_progress.BarColumn(),
            rich_progress.TextColumn("{task.completed:.0f}/~{task.total:.0f}"),
            rich_progress.TimeElapsedColumn(),
            console=console or Console(stderr=True),
        )
        self._tasks = {
            table: self._progress.add_task(table, total=max(total, 1))
            for table, total in totals.items()
        }
        self._progress.start()

    def __call__(self, table: str, items: int) -> None:
        with self._lock:
            done = self._done[table] = self._done.get(table, 0) + items
            total = max(self._totals.get(table, 0), done, 1)
            if table not in self._tasks:
                self._tasks[table] = self._progress.add_task(table, total=total)
            self._progress.update(self._tasks[table], completed=done, total=total)

    def close(self) -> None:
        self._progress.stop()


def approximate_items(client: DynamoDBClient, table: str) -> int:
    """DynamoDB's item count (refreshed about every six hours): a progress total.

    Asked here, with the caller's credentials, not in chalicelib: the daily
    Lambda needs no total, so its role does without DescribeTable.
    """
    return int(client.describe_table(TableName=table)["Table"].get("ItemCount", 0))


# The stream worker beats every pass (a fraction of a second): silent this long, it is stuck.
SILENCE_SECONDS = 5.0
REFUSED = 2


def repair_blocker(stack: dict[str, Any], max_lag: float, now: float) -> str | None:
    """Why a repair must wait on this running local stack, or None when the stream is caught up."""
    written = stack.get("updated_at")
    if not isinstance(written, int | float) or now - written > SILENCE_SECONDS:
        return "the stack's status file is stale: the stack is not watching its parts"
    worker = stack.get("worker") or {}
    if worker.get("state") != "up":
        return f"the stream worker is {worker.get('state', 'unknown')}"
    beat = worker.get("heartbeat_at")
    if not isinstance(beat, int | float) or now - beat > SILENCE_SECONDS:
        return "the stream worker has not beaten for a while"
    lag = float(worker.get("lag_seconds") or 0.0)
    if lag > max_lag:
        return f"the stream handler's lag_seconds is {lag:.1f}, above --max-lag {max_lag:g}"
    return None


def local_repair_blocker(data_dir: Path, max_lag: float) -> str | None:
    """:func:`repair_blocker` for the local stack on ``data_dir``, from its status file."""
    from local import status  # noqa: PLC0415

    return repair_blocker(status.read(data_dir) or {}, max_lag, time.time())


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    add_target_arguments(parser)
    parser.add_argument("--repair", action="store_true", help="repair drift (compare-and-add)")
    parser.add_argument(
        "--max-lag", type=float, default=5.0, help="seconds of stream lag a repair tolerates"
    )
    parser.add_argument(
        "--ignore-lag", action="store_true", help="repair even while the stream lags"
    )
    known, rest = parser.parse_known_args(argv)
    if known.repair:
        rest.append("--repair")
    if known.environment:
        return run(rest)
    env = target_environment(known)
    where = (
        f"the local stack in {known.data_dir}/" if known.stage is None else f"stage {known.stage}"
    )
    if known.repair and not known.ignore_lag:
        if known.stage is None:
            from local import status  # noqa: PLC0415

            stack = status.read(known.data_dir) or {}
            blocker = repair_blocker(stack, known.max_lag, time.time())
        else:
            blocker = (
                "this tool cannot read a deployed stage's stream lag; check the "
                "aggregate_favorites batch log line's lag_seconds (or its metric)"
            )
        if blocker is not None:
            print(
                f"refusing to repair {where}: {blocker}. A change still in flight would be "
                "taken for drift. Wait, or pass --ignore-lag to repair anyway.",
                file=sys.stderr,
            )
            return REFUSED
    # The target's variables on top of this process's (region, credentials).
    services = Services(from_environment(env))
    store = services.reconciler().store
    client = services.dynamodb()
    bar = ProgressBar({table: approximate_items(client, table) for table in store.tables})
    try:
        return run(rest, progress=bar, services=services)
    finally:
        bar.close()


def run(
    argv: list[str] | None = None,
    progress: Progress | None = None,
    services: Services | None = None,
) -> int:
    """Reconcile the tables ``services`` names; without it, this process's environment
    (``chalicelib.settings``).

    Exit status: 0 when no drift remains, 1 when drift was found and left.
    Only confirmed drift counts (a difference the re-check saw the same): with
    ``--repair`` every bucket repaired or settled by itself is 0; differences
    in flight are in the summary (``in_flight``) and never fail the run.
    """

    parser = argparse.ArgumentParser(
        prog="python -m ops.reconcile --environment",
        description="Recount favorite counts from the favorites table; report (and repair) drift.",
    )
    parser.add_argument("--repair", action="store_true", help="repair drift (compare-and-add)")
    args = parser.parse_args(argv)
    services = services or Services(from_environment())
    report = services.reconciler().run(repair=args.repair, progress=progress or no_progress)
    for drift in report.drift:
        print(json.dumps(asdict(drift)))
    print(json.dumps(report.summary()), file=sys.stderr)
    return exit_status(report, repair=args.repair)


def exit_status(report: ReconcileReport, *, repair: bool) -> int:
    """1 while confirmed drift is left (a repair run: drift it could not settle), else 0."""
    left = report.unsettled if repair else report.drift
    return 1 if left else 0


if __name__ == "__main__":
    raise SystemExit(main())
