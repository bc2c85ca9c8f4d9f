"""The recount side by side: the in-process tally and DuckDB's SQL, on the same export files.

Synthetic export files (``ops.recount.export``: DynamoDB JSON, gzip'd lines,
the layout ExportTableToPointInTime writes) of favorites spread over more
days than retention keeps. The in-process column folds the same files into
the reconciler's ``Tally`` in one Python thread (JSON decoding + ``Tally.add``):
the client-side work of the scan without boto3's parsing and the network, so
a lower bound of the scan's ~14.5 µs of CPU per favorite measured on
DynamoDB Local (issue #19). DuckDB runs ``ops.recount.sql`` over the files
on every core it is given. Both must agree on every count: checked, not timed.
"""

from __future__ import annotations

import gzip
import json
import os
import random
import resource
import shutil
import tempfile
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from bench.section import Section
from chalicelib.reconcile.tally import Retention, Tally
from chalicelib.windows import format_timestamp
from ops.recount import duck, export

DAYS = 600  # of history: more than retention keeps
FAVORITES_PER_RESTAURANT = 20  # 100k favorites over 5,000 restaurants, as the tally section
LAMBDA_SECONDS = 900
SCAN_CPU_SECONDS_PER_FAVORITE = 14.5e-6  # issue #19: DynamoDB Local, 4 segments
# Lambda's CPU grows with memory: a full vCPU at 1,769 MB, so 1,024 MB gets 58% of one.
LAMBDA_CPU_SHARE = 1024 / 1769


def lambda_ceiling() -> float:
    """Favorites one 15-minute, 1,024 MB Lambda can scan at the measured rate."""
    return LAMBDA_SECONDS * LAMBDA_CPU_SHARE / SCAN_CPU_SECONDS_PER_FAVORITE


def synthetic(favorites: int, now: float) -> Iterator[dict[str, Any]]:
    """Favorites as the export carries them; ids and times from pools built up front."""
    rng = random.Random(favorites)
    restaurants = [{"S": f"r{n:06d}"} for n in range(max(1, favorites // FAVORITES_PER_RESTAURANT))]
    times = [
        {"S": format_timestamp(datetime.fromtimestamp(now - rng.random() * DAYS * 86_400, UTC))}
        for _ in range(min(favorites, 50_000))
    ]
    for number in range(favorites):
        yield {
            "restaurant_id": rng.choice(restaurants),
            "user_id": {"S": f"u{number}"},
            "created_at": rng.choice(times),
        }


def _cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def in_process(folder: Path, retention: Retention) -> Tally:
    tally = Tally(retention=retention)
    for path in sorted(folder.glob("**/data/*.gz")):
        with gzip.open(path, "rt", encoding="utf-8") as lines:
            for line in lines:
                tally.add(json.loads(line)["Item"])
    return tally


def recount_side_by_side(
    quick: bool, retention_days: int, sizes: list[int] | None = None
) -> Section:
    sizes = sizes or ([10_000, 100_000] if quick else [100_000, 1_000_000])
    section = Section("9. Recount: in-process tally against DuckDB's SQL, on export files")
    now = time.time()
    retention = Retention(now, retention_days)
    section.lines += [
        f"Generated export files (DynamoDB JSON, gzip level 1, {export.ITEMS_PER_FILE:,} "
        f"items a file), favorites over {DAYS} days, one restaurant per "
        f"{FAVORITES_PER_RESTAURANT} favorites, retention {retention_days} days; one run "
        f"per size, {os.cpu_count()} cores (shared). *In-process* folds the files into "
        "the reconciler's Tally in one thread: a lower bound of the scan, which also "
        "parses DynamoDB's responses (measured at ~14.5 µs of CPU per favorite on "
        "DynamoDB Local; the *scan, by the measured rate* column is that rate in a 1,024 MB "
        "Lambda). Both recounts are "
        "checked equal on every count.",
        "",
    ]
    section.header(
        "favorites",
        "pairs (checked)",
        "export files",
        "in-process: wall",
        "in-process: CPU per favorite",
        "scan, by the measured rate",
        "DuckDB: wall",
        "DuckDB: CPU",
        "DuckDB speed-up (wall)",
    )
    for favorites in sizes:
        folder = Path(tempfile.mkdtemp(prefix="bench-recount-"))
        try:
            export.write_export(synthetic(favorites, now), folder)
            files = len(list(folder.glob("**/data/*.gz")))
            started, cpu = time.perf_counter(), _cpu()
            folded = in_process(folder, retention)
            fold_wall, fold_cpu = time.perf_counter() - started, _cpu() - cpu
            started, cpu = time.perf_counter(), _cpu()
            recounted = duck.recount(folder, retention_days=retention_days, now=now)
            duck_wall, duck_cpu = time.perf_counter() - started, _cpu() - cpu
        finally:
            shutil.rmtree(folder, ignore_errors=True)
        assert recounted.counts == folded.counts  # the same truth, or the figures mean nothing
        assert recounted.favorites == folded.favorites == favorites
        section.row(
            f"{favorites:,}",
            f"{len(folded.counts):,}",
            files,
            f"{fold_wall:.1f} s",
            f"{fold_cpu / favorites * 1e6:.1f} µs",
            f"{favorites * SCAN_CPU_SECONDS_PER_FAVORITE / LAMBDA_CPU_SHARE:.1f} s",
            f"{duck_wall:.2f} s",
            f"{duck_cpu:.1f} s",
            f"{fold_wall / duck_wall:.1f}x",
        )
        section.numbers[f"recount_duckdb_seconds_{favorites}"] = duck_wall
        section.numbers[f"recount_in_process_seconds_{favorites}"] = fold_wall
    largest = sizes[-1]
    section.lines += [
        "",
        f"The 15-minute Lambda scans about {lambda_ceiling() / 1e6:.0f}M favorites at "
        "1,024 MB (the measured rate); the export and the SQL have no such "
        f"ceiling. Sizes that ran for real: {', '.join(f'{s:,}' for s in sizes)} "
        f"(largest {largest:,}); none is extrapolated.",
    ]
    return section


def main(argv: list[str] | None = None) -> int:
    """``python -m bench.recount [FAVORITES ...]``: the section alone, at the sizes given
    (10M takes about 10 minutes on two cores, so ``make bench`` stops at 1M)."""
    import argparse  # noqa: PLC0415

    from chalicelib.settings import from_env  # noqa: PLC0415

    parser = argparse.ArgumentParser(description=main.__doc__)
    parser.add_argument("sizes", type=int, nargs="*", help="favorites (default 100k and 1M)")
    sizes = parser.parse_args(argv).sizes or None
    section = recount_side_by_side(False, from_env({}).day_bucket_retention_days, sizes)
    print(f"## {section.title}", "", *section.lines, sep="\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
