"""Sections 3 and 3b: ranking reads (``topRestaurants(first: 10)``) against
scan-and-sort, and ranking pages past 100 against paging by offset."""

from __future__ import annotations

import time
from functools import partial
from typing import TYPE_CHECKING

from bench import baselines
from bench.dynamo import COUNTS_TABLE, batch_put, fresh_tables
from bench.section import Section, x, zipf_count_items
from bench.stats import Figure, figure, ratio, timed
from devtools.calls import counting

if TYPE_CHECKING:
    from mypy_boto3_dynamodb import DynamoDBClient


# 3. Ranking reads ----------------------------------------------------------


def ranking_reads(client: DynamoDBClient, sizes: list[int], runs: int, scan_runs: int) -> Section:
    from chalicelib.rankings import RankingStore  # noqa: PLC0415

    section = Section("3. Ranking reads")
    fresh_tables(client)
    series = {1: "ALL", 16: "MONTH#2026-11"}  # one bucket per shard count, same restaurants
    section.lines.append(
        "`topRestaurants(first: 10)` through `RankingStore.top` (the resolver's call), "
        f"{runs} calls per point; scan-and-sort reads the whole counts table "
        f"({scan_runs} runs per point). The table holds every restaurant in two buckets "
        "(ALL at S=1, MONTH at S=16), as a live table holds several buckets. Read units "
        "are DynamoDB Local's ConsumedCapacity (eventually consistent)."
    )
    section.lines.append("")
    section.header(
        "restaurants",
        "method",
        "items read / call",
        "RCU / call",
        "round trips",
        "latency",
        "scan / top latency",
    )
    loaded = 0
    load_seconds = 0.0
    for size in sizes:
        start = time.perf_counter()
        for shards, bucket in series.items():
            batch_put(client, COUNTS_TABLE, zipf_count_items(range(loaded, size), bucket, shards))
        load_seconds += time.perf_counter() - start
        loaded = size
        expected = baselines.scan_top(client, COUNTS_TABLE, "ALL", 10)
        top_latency: dict[int, Figure] = {}
        for shards, bucket in series.items():
            store = RankingStore(client, COUNTS_TABLE, shards)
            answer = [(r.restaurant_id, r.favorite_count) for r in store.top(bucket, 10)]
            assert answer == expected, (shards, answer, expected)
            with counting(client, read_units=True) as counter:
                latencies = [timed(partial(store.top, bucket, 10)) * 1000 for _ in range(runs)]
            top_latency[shards] = figure(latencies, "ms")
            section.row(
                f"{size:,}",
                f"top, S={shards}",
                f"{counter.items_read / runs:.0f}",
                f"{counter.read_units / runs:.1f}",
                f"{counter.round_trips / runs:.0f}",
                top_latency[shards].text(2),
                "",
            )
            section.numbers[f"top_rcu_s{shards}_{size}"] = counter.read_units / runs
            section.numbers[f"top_ms_s{shards}_{size}"] = top_latency[shards].median
        with counting(client, read_units=True) as counter:
            scans = [
                timed(lambda: baselines.scan_top(client, COUNTS_TABLE, "ALL", 10)) * 1000
                for _ in range(scan_runs)
            ]
        scan = figure(scans, "ms")
        section.row(
            f"{size:,}",
            "scan + sort",
            f"{counter.items_read / scan_runs:.0f}",
            f"{counter.read_units / scan_runs:.1f}",
            f"{counter.round_trips / scan_runs:.0f}",
            scan.text(1),
            f"{x(ratio(scan, top_latency[1]))} (S=1), {x(ratio(scan, top_latency[16]))} (S=16)",
        )
    _tie_heavy_point(client, section, runs)
    section.lines.append("")
    section.lines.append(
        f"Loading {loaded * 2:,} items with threaded BatchWriteItem took {load_seconds:.0f} s."
        f" The tie-heavy rows rank a day bucket of {TIE_HEAVY_TIES:,} restaurants at count 1"
        " below three leaders, with every tie read and with the default RANKING_TIE_READ_LIMIT."
    )
    return section


TIE_HEAVY_TIES = 3000


def _tie_heavy_point(client: DynamoDBClient, section: Section, runs: int) -> None:
    """top(10) where the 10th row falls inside thousands of ties, at S=1."""
    from chalicelib.rankings import RankingStore  # noqa: PLC0415
    from chalicelib.settings import DEFAULT_RANKING_TIE_READ_LIMIT  # noqa: PLC0415
    from devtools.items import count_items  # noqa: PLC0415

    bucket = "DAY#2026-11-23"
    counts = {f"t{index:06d}": 1 for index in range(TIE_HEAVY_TIES)} | {"a": 9, "b": 8, "c": 7}
    batch_put(client, COUNTS_TABLE, count_items(bucket, counts))
    for label, limit in (("every tie", 10**6), ("limit", DEFAULT_RANKING_TIE_READ_LIMIT)):
        store = RankingStore(client, COUNTS_TABLE, 1, tie_read_limit=limit)
        answer = [r.favorite_count for r in store.top(bucket, 10)]
        assert answer == [9, 8, 7] + [1] * 7, answer
        with counting(client, read_units=True) as counter:
            latencies = [timed(partial(store.top, bucket, 10)) * 1000 for _ in range(runs)]
        section.row(
            f"{len(counts):,} (tie-heavy)",
            f"top, S=1, {label}" + (f" {limit:,}" if label == "limit" else ""),
            f"{counter.items_read / runs:.0f}",
            f"{counter.read_units / runs:.1f}",
            f"{counter.round_trips / runs:.0f}",
            figure(latencies, "ms").text(2),
            "",
        )
        section.numbers[f"top_ties_items_{label.replace(' ', '_')}"] = counter.items_read / runs


# 3b. Ranking pages past 100 -------------------------------------------------

PAGE_DEPTHS = [0, 1_000, 10_000]


def _page_counts(size: int) -> dict[str, int]:
    # Zipf-like like section 3, scaled so that runs of ties stay short (tens of
    # restaurants near depth 10,000), as in a busy month.
    return {f"p{index:06d}": max(1, int(10_000_000 / (index + 1) ** 1.1)) for index in range(size)}


def ranking_pages(client: DynamoDBClient, depths: list[int], runs: int) -> Section:
    """A 100-row page of ``topRestaurants(after:)`` at several depths, against reading
    the index from the top down to the page."""
    from chalicelib.rankings import RankedRestaurant, RankingStore  # noqa: PLC0415
    from devtools.items import count_items  # noqa: PLC0415

    section = Section("3b. Ranking pages past 100")
    first = 100
    # Enough rows below the deepest page for every one of 16 shards to fill it.
    counts = _page_counts(max(depths) + 20 * first)
    order = sorted(counts, key=lambda r: (-counts[r], r))
    series = {1: "MONTH#2026-10", 16: "MONTH#2026-09"}
    for shards, bucket in series.items():
        batch_put(client, COUNTS_TABLE, count_items(bucket, counts, shards))
    section.lines.append(
        f"`topRestaurants(first: {first}, after: <cursor of row N>)` through "
        f"`RankingStore.page` (the resolver's call), {runs} calls per point, on a month of "
        f"{len(counts):,} ranked restaurants (Zipf-like counts, short runs of ties). "
        '"From the top" is paging by offset: the index read from its top down past the '
        "page (S=1). Items read are the index items DynamoDB evaluated (ScannedCount)."
    )
    section.lines.append("")
    section.header(
        "depth (rows above)",
        "method",
        "items read / page",
        "RCU / page",
        "round trips",
        "latency",
        "from the top / cursor",
    )

    def cursor_at(depth: int, shards: int) -> str | None:
        if not depth:
            return None
        row = RankedRestaurant(depth, order[depth - 1], counts[order[depth - 1]])
        return RankingStore(client, COUNTS_TABLE, shards).cursor(row, series[shards])

    # Warm up every point first: right after the load DynamoDB Local is still busy,
    # which would weigh on whichever point is measured first.
    for _ in range(3):
        for depth in depths:
            for shards, bucket in series.items():
                RankingStore(client, COUNTS_TABLE, shards).page(
                    bucket, first, cursor_at(depth, shards)
                )
            baselines.page_from_the_top(client, COUNTS_TABLE, f"{series[1]}#0", depth, first)
    for depth in depths:
        expected = [(r, counts[r]) for r in order[depth : depth + first]]
        cursor_latency: Figure | None = None
        for shards, bucket in series.items():
            store = RankingStore(client, COUNTS_TABLE, shards)
            after = cursor_at(depth, shards)
            page = store.page(bucket, first, after)
            assert [(r.restaurant_id, r.favorite_count) for r in page] == expected, (depth, shards)
            assert page[0].rank == depth + 1
            with counting(client, read_units=True) as counter:
                latencies = [
                    timed(partial(store.page, bucket, first, after)) * 1000 for _ in range(runs)
                ]
            latency = figure(latencies, "ms")
            if shards == 1:
                cursor_latency = latency
            section.row(
                f"{depth:,}",
                f"cursor, S={shards}",
                f"{counter.items_read / runs:.0f}",
                f"{counter.read_units / runs:.1f}",
                f"{counter.round_trips / runs:.0f}",
                latency.text(2),
                "",
            )
            section.numbers[f"page_items_s{shards}_{depth}"] = counter.items_read / runs
            section.numbers[f"page_ms_s{shards}_{depth}"] = latency.median
        partition = f"{series[1]}#0"
        answer = baselines.page_from_the_top(client, COUNTS_TABLE, partition, depth, first)
        assert answer == expected, depth
        with counting(client, read_units=True) as counter:
            latencies = [
                timed(
                    partial(
                        baselines.page_from_the_top, client, COUNTS_TABLE, partition, depth, first
                    )
                )
                * 1000
                for _ in range(runs)
            ]
        offset = figure(latencies, "ms")
        assert cursor_latency is not None
        section.row(
            f"{depth:,}",
            "from the top, S=1",
            f"{counter.items_read / runs:.0f}",
            f"{counter.read_units / runs:.1f}",
            f"{counter.round_trips / runs:.0f}",
            offset.text(2),
            x(ratio(offset, cursor_latency)),
        )
        section.numbers[f"page_offset_items_{depth}"] = counter.items_read / runs
    section.lines.append("")
    section.lines.append(
        "A page after a cursor reads the rest of the cursor's run of ties, then its own rows"
        " and one more (per shard): the same at every depth. Read units are DynamoDB Local's"
        " ConsumedCapacity (eventually consistent)."
    )
    return section
