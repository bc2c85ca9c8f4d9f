"""Recount favorites from an export with SQL, then reconcile against it.

    python -m ops.recount --export-from-scan DIR     # local stack: export files from a scan
    python -m ops.recount --duckdb DIR [--repair]    # reconcile against DuckDB's recount
    python -m ops.recount --synthetic DIR --favorites 1000000   # export files for the bench

``--data-dir`` names the local stack (``.data`` by default); ``--environment``
takes the tables from this process's environment, as ``ops.reconcile`` does.
The comparison, the re-check and the repair are the reconciler's: only the
expected counts come from the SQL. Exit status as ``ops.reconcile``.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from dataclasses import asdict
from datetime import UTC, datetime
from pathlib import Path

from ops.recount import export


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    action = parser.add_mutually_exclusive_group(required=True)
    action.add_argument("--export-from-scan", type=Path, metavar="DIR")
    action.add_argument("--duckdb", type=Path, metavar="DIR", help="a folder of export files")
    action.add_argument("--synthetic", type=Path, metavar="DIR")
    target = parser.add_mutually_exclusive_group()
    target.add_argument("--data-dir", type=Path, default=Path(".data"))
    target.add_argument("--environment", action="store_true")
    parser.add_argument("--repair", action="store_true", help="repair confirmed drift")
    parser.add_argument("--favorites", type=int, default=100_000)
    parser.add_argument("--days", type=int, default=600)
    parser.add_argument("--restaurants", type=int, default=5_000)
    args = parser.parse_args(argv)
    if args.synthetic is not None:
        items = export.synthetic_items(
            args.favorites, days=args.days, restaurants=args.restaurants, now=datetime.now(UTC)
        )
        print(export.write_export(items, args.synthetic))
        return 0
    if not args.environment:
        from ops.reconcile import local_environment  # noqa: PLC0415

        # Before chalicelib is imported: settings are read once per process.
        os.environ.update(local_environment(args.data_dir))
    from chalicelib import aws, services  # noqa: PLC0415
    from chalicelib.settings import get_settings  # noqa: PLC0415
    from ops.reconcile import exit_status  # noqa: PLC0415
    from ops.recount import duck  # noqa: PLC0415

    settings = get_settings()
    if args.export_from_scan is not None:
        print(
            export.export_from_scan(aws.dynamodb(), settings.favorites_table, args.export_from_scan)
        )
        return 0
    folder: Path = args.duckdb
    report = services.reconciler().run(
        repair=args.repair,
        truth=lambda retention: duck.recount(
            folder, retention_days=retention.days, now=retention.now
        ),
    )
    for drift in report.drift:
        print(json.dumps(asdict(drift)))
    print(json.dumps(report.summary()), file=sys.stderr)
    return exit_status(report, repair=args.repair)


if __name__ == "__main__":
    raise SystemExit(main())
