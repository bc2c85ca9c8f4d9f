"""Reconcile a stage's favorite counts from this machine, with a progress bar.

    .venv/bin/python -m local.reconcile_cli                  # the local stack, report only
    .venv/bin/python -m local.reconcile_cli --stage dev --repair

The stage's environment comes from ``.chalice/config.json`` (as ``chalice``
deploys it), so the same tables are reconciled; AWS stages use the machine's
AWS credentials. Everything else is ``chalicelib.reconcile.main``.
"""

from __future__ import annotations

import argparse
import os
import sys
import threading
import time
from typing import TYPE_CHECKING, TextIO

if TYPE_CHECKING:
    from mypy_boto3_dynamodb import DynamoDBClient


class ProgressBar:
    """Items scanned per table against DynamoDB's approximate item count, on stderr.

    Printed by hand rather than with a progress-bar package: one line of text
    is all it takes, and the dev requirements stay as they are.
    """

    def __init__(self, totals: dict[str, int], stream: TextIO = sys.stderr) -> None:
        self._totals = totals
        self._done = dict.fromkeys(totals, 0)
        self._stream = stream
        self._lock = threading.Lock()  # scan segments report from their own threads
        self._started = time.monotonic()

    def __call__(self, table: str, items: int) -> None:
        with self._lock:
            self._done[table] = self._done.get(table, 0) + items
            parts = []
            for name, done in self._done.items():
                total = max(self._totals.get(name, 0), done, 1)
                filled = int(20 * done / total)
                parts.append(f"{name} [{'#' * filled}{'.' * (20 - filled)}] {done}/~{total}")
            elapsed = time.monotonic() - self._started
            self._stream.write("\r" + "  ".join(parts) + f"  {elapsed:.1f}s")
            self._stream.flush()

    def close(self) -> None:
        self._stream.write("\n")


def approximate_items(client: DynamoDBClient, table: str) -> int:
    """DynamoDB's item count (refreshed about every six hours): a progress total.

    Asked here, with the caller's credentials, not in chalicelib: the daily
    Lambda needs no total, so its role does without DescribeTable.
    """
    return int(client.describe_table(TableName=table)["Table"].get("ItemCount", 0))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--stage", default="local", help="stage in .chalice/config.json")
    known, rest = parser.parse_known_args(argv)
    from local.stack import stage_environment  # noqa: PLC0415

    # Before chalicelib is imported: settings are read once per process.
    os.environ.update(stage_environment(known.stage))
    from chalicelib import aws, services  # noqa: PLC0415
    from chalicelib.reconcile import main as reconcile  # noqa: PLC0415

    store = services.reconciler().store
    bar = ProgressBar({table: approximate_items(aws.dynamodb(), table) for table in store.tables})
    try:
        return reconcile(rest, progress=bar)
    finally:
        bar.close()


if __name__ == "__main__":
    raise SystemExit(main())
