"""What a reconciliation found and did: its summary, its log lines and their metrics."""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from typing import Any

from chalicelib import logs
from chalicelib.metrics import RECONCILE_METRICS, MetricSpace, embed
from chalicelib.reconcile.tally import Drift
from chalicelib.sharding import PartitionMismatch

# The package's logger: the name the drift warning lines carry.
logger = logging.getLogger("chalicelib.reconcile")
SUMMARY_MESSAGE = "favorite counts reconciled"

# Lines of drift logged per run; the summary line always carries the total.
MAX_LOGGED_DRIFT = 100


@dataclass
class ReconcileReport:
    favorites: int = 0
    unplaceable_favorites: int = 0
    count_items: int = 0
    markers: int = 0
    buckets_checked: int = 0
    # Confirmed drift: the scan's difference, seen the same by the re-check.
    drift: list[Drift] = field(default_factory=list)
    # Differences the scan saw that moved by the re-check: changes in flight, not drift.
    in_flight: list[Drift] = field(default_factory=list)
    # Differences gone by themselves (at the re-check, or before the repair's write).
    settled: int = 0
    repaired: list[Drift] = field(default_factory=list)
    # Confirmed drift a repair had to leave: its count kept moving.
    unsettled: list[Drift] = field(default_factory=list)
    repair_retries: int = 0
    # Count items outside the partition RANKING_SHARDS puts them in: rankings
    # miss them until `python -m ops.reshard` moves them.
    misplaced: list[PartitionMismatch] = field(default_factory=list)
    seconds: float = 0.0

    @property
    def clean(self) -> bool:
        return not self.drift and not self.misplaced

    def summary(self) -> dict[str, Any]:
        return {
            "favorites": self.favorites,
            "unplaceable_favorites": self.unplaceable_favorites,
            "count_items": self.count_items,
            "markers": self.markers,
            "buckets_checked": self.buckets_checked,
            "drift": len(self.drift),
            "in_flight": len(self.in_flight),
            "settled": self.settled,
            "repaired": len(self.repaired),
            "unsettled": len(self.unsettled),
            "repair_retries": self.repair_retries,
            "misplaced": len(self.misplaced),
            "seconds": round(self.seconds, 3),
        }


def log(
    report: ReconcileReport,
    *,
    repair: bool,
    metrics: MetricSpace | None,
    clock: Callable[[], float],
) -> None:
    """A warning line per drifted or misplaced bucket (up to ``MAX_LOGGED_DRIFT``), then
    the summary line, with its metrics (EMF) when ``metrics`` names where they go."""
    for drift in report.drift[:MAX_LOGGED_DRIFT]:
        logger.warning("count drift", extra={"fields": asdict(drift)})
    for mismatch in report.misplaced[:MAX_LOGGED_DRIFT]:
        logger.warning("count in the wrong ranking partition", extra={"fields": asdict(mismatch)})
    fields: dict[str, Any] = {"repair": repair, **report.summary()}
    if metrics is not None:
        fields = embed(fields, metrics, RECONCILE_METRICS, clock())
    (logs.reports.info if report.clean else logs.reports.warning)(
        SUMMARY_MESSAGE, extra={"fields": fields}
    )
