"""Section 6: the busiest ranking partition in a simulated hour, per shard count."""

from __future__ import annotations

from concurrent.futures import ProcessPoolExecutor

from bench.section import Section
from bench.workloads import ZIPF_EXPONENT, hot_bucket_hour


def _hour(args: tuple[int, float | None]) -> tuple[int, float]:
    return hot_bucket_hour(args[0], args[1])


def hot_bucket(shard_counts: list[int]) -> Section:
    section = Section("6. Hot bucket")
    configs = [(s, z) for s in shard_counts for z in (None, ZIPF_EXPONENT)]
    with ProcessPoolExecutor(max_workers=2) as pool:
        results = dict(zip(configs, pool.map(_hour, configs), strict=True))
    section.lines.append(
        "A simulated hour of 1,000 favorites/s (3.6 million events, 10,000 restaurants) in "
        "Lambda batches of 100, through the handler's own chunk planning and "
        "`CountsWriter.actions`; every `Update` is one write to the `rank_partition` it "
        "names. Pure: no database. One run per configuration (the workload is seeded and "
        "3,600 seconds are its samples); the limit is 1,000 writes/s per partition."
    )
    section.lines.append("")
    section.header(
        "shards", "workload", "max writes/s, one partition", "mean per partition", "< 1,000/s"
    )
    for (shards, zipf), (peak, mean) in results.items():
        name = "uniform" if zipf is None else f"Zipf({zipf})"
        section.row(shards, name, f"{peak:,}", f"{mean:.0f}", "yes" if peak < 1000 else "NO")
        section.numbers[f"hot_s{shards}_{'zipf' if zipf else 'uniform'}"] = peak
    return section
