"""``make bench``: run every measurement of issue #6 and write ``BENCHMARKS.md``.

    python -m bench [--quick] [--only SECTION ...] [--output FILE]

``--quick`` shrinks every size to check the suite end to end in a minute.
``--only cold_start`` (repeatable) runs the named sections alone; the cost
model needs every other section, so it runs only in a full bench. A partial
run writes a report only where ``--output`` says: never a partial
``BENCHMARKS.md`` by default.
"""

from __future__ import annotations

import argparse
import os
import platform
import subprocess
import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

from bench.aggregation import aggregation
from bench.api_overhead import api_overhead
from bench.cold_start import cold_start
from bench.dynamo import dynamodb_local, serve_bench
from bench.freshness import freshness
from bench.hot_bucket import hot_bucket
from bench.rankings import PAGE_DEPTHS, ranking_pages, ranking_reads
from bench.reads import reads
from bench.section import ROOT, Section

REPORT = ROOT / "BENCHMARKS.md"
SECTIONS = (
    "hot_bucket",
    "cold_start",
    "aggregation",
    "ranking_reads",
    "ranking_pages",
    "api_overhead",
    "freshness",
    "tally_memory",
    "recount",
    "reads",
    "cost_model",
)


def machine() -> str:
    cpu = platform.processor() or platform.machine()
    model = Path("/proc/cpuinfo")
    if model.exists():
        for line in model.read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    java = subprocess.run(["java", "-version"], capture_output=True, text=True, check=False).stderr
    return (
        f"{cpu}, {os.cpu_count()} cores, {platform.system()} {platform.release()}, "
        f"Python {platform.python_version()}, {java.splitlines()[0] if java else 'no Java'}"
    )


def commit() -> str:
    head = subprocess.run(
        ["git", "rev-parse", "--short", "HEAD"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=False,
    ).stdout.strip()
    dirty = subprocess.run(
        ["git", "status", "--porcelain", "--untracked-files=no"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=False,
    ).stdout.strip()
    return head + (" (with uncommitted changes)" if dirty else "")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="tiny sizes, for a smoke run")
    parser.add_argument("--output", type=Path, default=None, help=f"default: {REPORT.name}")
    parser.add_argument(
        "--only", action="append", choices=SECTIONS, help="run this section alone (repeatable)"
    )
    args = parser.parse_args(argv)
    quick = args.quick
    only = set(args.only or SECTIONS)
    output: Path | None = args.output or (None if args.only else REPORT)
    started = time.perf_counter()
    sections: list[Section] = []
    # Imported here: the bench environment must be set before settings are read.
    from bench.cost import cost_model  # noqa: PLC0415
    from chalicelib.settings import from_env  # noqa: PLC0415

    shards = from_env({}).ranking_shards  # the documented default
    sizes = [100, 1000] if quick else [100, 10_000, 100_000]

    def done(section: Section) -> None:
        sections.append(section)
        print(f"\n## {section.title}\n", *section.lines, sep="\n", flush=True)

    _without_dynamodb(only, quick, done)
    _on_dynamodb_local(only, quick, shards, sizes, done)
    if only == set(SECTIONS):
        numbers = {key: value for section in sections for key, value in section.numbers.items()}
        done(cost_model(numbers, shards, sizes[-1]))
    elapsed = time.perf_counter() - started

    header = [
        "# Benchmarks",
        "",
        "Written by `make bench` (`python -m bench`); figures are not tests. Each figure is "
        "the median with its spread (min..max, n runs); each ratio compares medians measured "
        "in the same run. The machine is shared and noisy: read ratios, not absolute times.",
        "",
        f"- Machine: {machine()}",
        f"- Date: {datetime.now(UTC):%Y-%m-%d %H:%M} UTC",
        f"- Commit: {commit()}",
        f"- RANKING_SHARDS default: {shards}",
        f"- `make bench` took {elapsed:.0f} s"
        + (" (--quick: sizes shrunk)" if quick else "")
        + ("" if only == set(SECTIONS) else f" (--only {', '.join(sorted(only))})"),
        "",
    ]
    body = [line for s in sections for line in ("", f"## {s.title}", "", *s.lines)]
    if output is None:
        print(f"\n{elapsed:.0f} s; no report written (--only without --output)")
        return 0
    previous = output.read_text() if output.exists() else ""
    history = previous.split("<!-- changes -->", 1)[1] if "<!-- changes -->" in previous else ""
    output.write_text("\n".join(header + body) + "\n\n<!-- changes -->" + (history or "\n"))
    print(f"\nwrote {output} in {elapsed:.0f} s")
    return 0


def _without_dynamodb(only: set[str], quick: bool, done: Callable[[Section], None]) -> None:
    """The sections that need no DynamoDB: run before it starts."""
    if "hot_bucket" in only:
        done(_quick_hot() if quick else hot_bucket([1, 16]))
    if "tally_memory" in only:
        from bench.memory import tally_memory  # noqa: PLC0415
        from chalicelib.settings import from_env  # noqa: PLC0415

        done(tally_memory(quick, from_env({}).day_bucket_retention_days))
    if "recount" in only:
        from bench.recount import recount_side_by_side  # noqa: PLC0415
        from chalicelib.settings import from_env  # noqa: PLC0415

        done(recount_side_by_side(quick, from_env({}).day_bucket_retention_days))


def _on_dynamodb_local(
    only: set[str], quick: bool, shards: int, sizes: list[int], done: Callable[[Section], None]
) -> None:
    """The sections that measure against DynamoDB Local, on one server."""
    with dynamodb_local() as server:
        client = serve_bench(server.endpoint_url, shards).dynamodb()
        if "cold_start" in only:
            done(cold_start(client, server.endpoint_url, runs=2 if quick else 7))
        if "aggregation" in only:
            done(aggregation(client, runs=2 if quick else 3, batches=2 if quick else 4))
        if "ranking_reads" in only:
            done(ranking_reads(client, sizes, runs=5 if quick else 30, scan_runs=2 if quick else 3))
        if "ranking_pages" in only:
            depths = [0, 100, 500] if quick else PAGE_DEPTHS
            done(ranking_pages(client, depths, runs=5 if quick else 30))
        if "api_overhead" in only:
            rounds = 2 if quick else 3
            done(api_overhead(client, shards, requests=20 if quick else 150, rounds=rounds))
        if "freshness" in only:
            done(freshness(client, mutations=20 if quick else 200))
        if "reads" in only:
            done(reads(client, runs=5 if quick else 30, edge_samples=50 if quick else 200))


def _quick_hot() -> Section:
    from bench.workloads import hot_bucket_hour  # noqa: PLC0415

    section = Section("6. Hot bucket (quick: 20 simulated seconds)")
    for shards in (1, 16):
        peak, _ = hot_bucket_hour(shards, 1.1, seconds=20)
        section.lines.append(f"- S={shards}, Zipf(1.1): max {peak} writes/s on one partition")
    return section


if __name__ == "__main__":
    raise SystemExit(main())
