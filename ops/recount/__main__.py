"""Recount favorites from an export with SQL, then reconcile against it.

    python -m ops.recount --export-from-scan DIR     # local stack: export files from a scan
    python -m ops.recount --duckdb DIR [--repair]    # reconcile against DuckDB's recount
    python -m ops.recount --synthetic DIR --favorites 1000000   # export files for the bench
    python -m ops.recount --athena BUCKET --stage dev [--repair]  # AWS: export, then Athena

``--data-dir`` names the local stack (``.data`` by default); ``--environment``
takes the tables from this process's environment, as ``ops.reconcile`` does;
``--stage`` a deployed stage (``.chalice/config.json``). ``--athena`` takes the
stack's ``RecountExportBucketName`` output and needs the permissions of its
``RecountOperatorPolicy``: it exports the Favorites table (point in time),
waits, and runs the recount query in the stage's Athena workgroup.
The comparison, the re-check and the repair are the reconciler's: only the
expected counts come from the SQL. Exit status as ``ops.reconcile``.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Callable
from dataclasses import asdict
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING

from infra import recount as resources
from infra import stages
from ops import reconcile
from ops.reconcile import REFUSED
from ops.recount import export
from ops.target import add_target_arguments, target_environment

if TYPE_CHECKING:
    from chalicelib.reconcile.tally import Retention, Tally
    from ops.recount.athena import AthenaRecount


def athena_adapter(stage: stages.Stage, bucket: str, favorites_table: str) -> AthenaRecount:
    """The adapter on this machine's credentials, named after the stage's stack."""
    import boto3  # noqa: PLC0415

    from ops.recount.athena import AthenaRecount  # noqa: PLC0415

    session = boto3.Session()
    account = session.client("sts").get_caller_identity()["Account"]
    partition = session.get_partition_for_region(session.region_name or "us-east-1")
    return AthenaRecount(
        dynamodb=session.client("dynamodb"),
        athena=session.client("athena"),
        table_arn=(
            f"arn:{partition}:dynamodb:{session.region_name}:{account}:table/{favorites_table}"
        ),
        bucket=bucket,
        workgroup=resources.workgroup_name(stage),
        database=resources.database_name(stage),
    )


def repair_blocker(stage: str | None, data_dir: Path, max_lag: float) -> str | None:
    """Why a repair must wait, as ``ops.reconcile`` decides it; None to go ahead."""
    if stage is not None:
        return (
            "this tool cannot read a deployed stage's stream lag; check the "
            "aggregate_favorites batch log line's lag_seconds (or its metric)"
        )
    return reconcile.local_repair_blocker(data_dir, max_lag)


def arguments() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    action = parser.add_mutually_exclusive_group(required=True)
    action.add_argument("--export-from-scan", type=Path, metavar="DIR")
    action.add_argument("--duckdb", type=Path, metavar="DIR", help="a folder of export files")
    action.add_argument("--synthetic", type=Path, metavar="DIR")
    action.add_argument("--athena", metavar="BUCKET", help="the stack's export bucket")
    add_target_arguments(parser)
    parser.add_argument("--repair", action="store_true", help="repair confirmed drift")
    parser.add_argument(
        "--max-lag", type=float, default=5.0, help="seconds of stream lag a repair tolerates"
    )
    parser.add_argument(
        "--ignore-lag", action="store_true", help="repair even while the stream lags"
    )
    parser.add_argument("--favorites", type=int, default=100_000)
    parser.add_argument("--days", type=int, default=600)
    parser.add_argument("--restaurants", type=int, default=5_000)
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = arguments()
    args = parser.parse_args(argv)
    if args.athena is not None and args.stage is None:
        parser.error("--athena needs --stage (its workgroup and database are the stage's)")
    if args.synthetic is not None:
        items = export.synthetic_items(
            args.favorites, days=args.days, restaurants=args.restaurants, now=datetime.now(UTC)
        )
        print(export.write_export(items, args.synthetic))
        return 0
    # The target's variables on top of this process's (region, credentials).
    env = target_environment(args)
    if args.repair and not args.ignore_lag and not args.environment:
        # The same gate as ops.reconcile: a change in flight must not be taken for drift.
        blocker = repair_blocker(args.stage, args.data_dir, args.max_lag)
        if blocker is not None:
            print(
                f"refusing to repair: {blocker}. Wait, or pass --ignore-lag to repair anyway.",
                file=sys.stderr,
            )
            return REFUSED
    from chalicelib.services import Services  # noqa: PLC0415
    from chalicelib.settings import from_environment  # noqa: PLC0415
    from ops.reconcile import exit_status  # noqa: PLC0415
    from ops.recount import duck  # noqa: PLC0415

    services = Services(from_environment(env))
    settings = services.settings
    if args.export_from_scan is not None:
        print(
            export.export_from_scan(
                services.dynamodb(), settings.favorites_table, args.export_from_scan
            )
        )
        return 0
    truth: Callable[[Retention], Tally]
    if args.athena is not None:
        adapter = athena_adapter(stages.stage(args.stage), args.athena, settings.favorites_table)

        def truth(retention: Retention) -> Tally:
            location = adapter.export()
            return adapter.recount(location, now=retention.now, retention_days=retention.days)
    else:
        folder: Path = args.duckdb

        def truth(retention: Retention) -> Tally:
            return duck.recount(folder, retention_days=retention.days, now=retention.now)

    report = services.reconciler().run(repair=args.repair, truth=truth)
    if args.athena is not None:
        print(json.dumps(adapter.facts), file=sys.stderr)
    for drift in report.drift:
        print(json.dumps(asdict(drift)))
    print(json.dumps(report.summary()), file=sys.stderr)
    return exit_status(report, repair=args.repair)


if __name__ == "__main__":
    raise SystemExit(main())
