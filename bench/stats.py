"""Timing and statistics shared by every benchmark: medians, spreads, percentiles.

The machine is shared and noisy, so every figure is the median of repeated
runs with its spread (min..max of the runs), and every comparison is a ratio
of medians measured in the same run.
"""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass


@dataclass(frozen=True)
class Figure:
    """A measured quantity over repeated runs."""

    runs: tuple[float, ...]
    unit: str

    @property
    def median(self) -> float:
        return statistics.median(self.runs)

    @property
    def low(self) -> float:
        return min(self.runs)

    @property
    def high(self) -> float:
        return max(self.runs)

    def text(self, digits: int = 1) -> str:
        """``median unit (min..max, n runs)``: the form every table uses."""
        if len(self.runs) == 1:
            return f"{self.median:.{digits}f} {self.unit} (1 run)"
        return (
            f"{self.median:.{digits}f} {self.unit} "
            f"({self.low:.{digits}f}..{self.high:.{digits}f}, n={len(self.runs)})"
        )


def figure(values: Sequence[float], unit: str) -> Figure:
    if not values:
        raise ValueError("a figure needs at least one run")
    return Figure(tuple(values), unit)


def ratio(numerator: Figure, denominator: Figure) -> float:
    """Ratio of medians; both figures come from the same run of the bench."""
    return numerator.median / denominator.median if denominator.median else float("inf")


def percentile(values: Sequence[float], pct: float) -> float:
    """Nearest-rank percentile (no interpolation: p99 of 100 samples is the 99th)."""
    if not values:
        raise ValueError("no samples")
    ordered = sorted(values)
    rank = max(1, -(-len(ordered) * pct // 100))
    return ordered[int(rank) - 1]


def timed(call: Callable[[], object]) -> float:
    """Seconds one call takes, by the monotonic high-resolution clock."""
    start = time.perf_counter()
    call()
    return time.perf_counter() - start


def repeat(call: Callable[[], object], runs: int) -> list[float]:
    return [timed(call) for _ in range(runs)]
