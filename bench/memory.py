"""The reconciliation's tally: peak memory against the (restaurant, bucket) pairs it holds.

The scan folds Favorites items into a ``Tally`` page by page; its memory is
its counter of (restaurant, bucket) pairs. Measured with ``tracemalloc``
(Python's own allocations: the counter, its keys and the page in hand), on
favorites spread evenly over more days than retention keeps, once keeping
every day bucket (before the bound) and once keeping only the day buckets a
run checks (``Retention``). No DynamoDB: the items are generated a page at a
time, shaped as the scan returns them.
"""

from __future__ import annotations

import gc
import random
import time
import tracemalloc
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

from bench.section import Section
from chalicelib.reconcile.tally import Retention, Tally, in_scope
from chalicelib.windows import format_timestamp

PAGE = 1_000  # items per scan page (a 1 MB page holds a few thousand)
DAYS = 600  # of history: more than retention keeps
RESTAURANTS_PER_FAVORITES = 0.05  # 100k favorites over 5,000 restaurants


class Scan:
    """Favorites items a page at a time, as the scan returns them.

    Restaurant ids and timestamps come from pools built up front, outside the
    measurement: the tally's memory, not the generator's, is what is measured.
    """

    def __init__(self, favorites: int, restaurants: int, now: float) -> None:
        self._favorites = favorites
        rng = random.Random(favorites)
        self._ids = [{"S": f"r{n:06d}"} for n in range(restaurants)]
        self._times = [
            {"S": format_timestamp(datetime.fromtimestamp(now - rng.random() * DAYS * 86_400, UTC))}
            for _ in range(min(favorites, 20_000))
        ]

    def pages(self) -> Iterator[list[Any]]:
        rng = random.Random(self._favorites)
        for start in range(0, self._favorites, PAGE):
            yield [
                {"restaurant_id": rng.choice(self._ids), "created_at": rng.choice(self._times)}
                for _ in range(min(PAGE, self._favorites - start))
            ]


def _peak(scan: Scan, retention: Retention | None) -> tuple[Tally, int]:
    """The tally of ``scan``, and the peak bytes allocated while it was built."""
    gc.collect()
    tracemalloc.start()
    tally = Tally(retention=retention)
    for page in scan.pages():
        for item in page:
            tally.add(item)
        del page
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    return tally, peak


def tally_memory(quick: bool, retention_days: int) -> Section:
    sizes = [10_000, 30_000] if quick else [100_000, 300_000, 1_000_000]
    section = Section("8. Reconciliation tally: peak memory against (restaurant, bucket) pairs")
    now = time.time()
    section.lines += [
        f"Favorites spread evenly over {DAYS} days, one restaurant per "
        f"{1 / RESTAURANTS_PER_FAVORITES:.0f} favorites; retention keeps "
        f"{retention_days} days. Peak of Python's allocations (tracemalloc) while the "
        f"tally folds the scan's pages ({PAGE} items each); one run per size. "
        "*Every day* keeps every day bucket (the tally before the bound); "
        "*checked days* keeps only the day buckets a run compares (ALL and the months "
        "always).",
        "",
    ]
    section.header(
        "favorites",
        "restaurants",
        "pairs checked",
        "every day: pairs",
        "every day: peak",
        "checked days: pairs",
        "checked days: peak",
        "bytes per pair held",
    )
    for favorites in sizes:
        restaurants = max(1, int(favorites * RESTAURANTS_PER_FAVORITES))
        scan = Scan(favorites, restaurants, now)
        unbounded, every_day_peak = _peak(scan, None)
        bounded, checked_peak = _peak(scan, Retention(now, retention_days))
        del scan
        checked = sum(1 for _, bucket in unbounded.counts if in_scope(bucket, now, retention_days))
        assert len(bounded.counts) == checked  # the bound keeps exactly what is checked
        peaks = (every_day_peak, checked_peak)
        section.row(
            f"{favorites:,}",
            f"{restaurants:,}",
            f"{checked:,}",
            f"{len(unbounded.counts):,}",
            f"{peaks[0] / 2**20:.1f} MB",
            f"{len(bounded.counts):,}",
            f"{peaks[1] / 2**20:.1f} MB",
            f"{peaks[0] / len(unbounded.counts):.0f} / {peaks[1] / len(bounded.counts):.0f}",
        )
        section.numbers[f"tally_bytes_per_pair_{favorites}"] = peaks[1] / len(bounded.counts)
    section.lines += [
        "",
        "Memory follows the pairs held: with the bound it is the pairs a run checks, "
        "whatever the length of history. The process itself (interpreter, boto3) adds "
        "its own baseline on top, which tracemalloc does not see.",
    ]
    return section
