"""CloudWatch metrics in the Embedded Metric Format (EMF), inside a log line.

CloudWatch Logs turns a JSON log event whose root holds an ``_aws`` block into
metrics: no API call, no added latency, and the figures stay next to the line
that explains them. The block follows AWS's published EMF specification:

- ``_aws.Timestamp``: milliseconds since the epoch;
- ``_aws.CloudWatchMetrics``: one directive with a ``Namespace``, the
  ``Dimensions`` (arrays of root member names) and the ``Metrics`` (each a
  ``Name`` that is a root member holding a number, and a ``Unit``);
- the dimension members at the root, as strings.

Written here rather than with Powertools Metrics or aws-embedded-metrics: on
this machine Powertools' EMF provider added 30 to 47 ms of imports to the
stream handler's cold path (its target allows 1.3x a bare app, measured at
1.15x) and 7.6 MB to a zip that must stay under 6 MB; aws-embedded-metrics
imports asyncio (130 ms). tests/unit/test_metrics.py checks the lines against
the specification's rules.

The metric names below are the log line's own member names; the stack's
alarms (infra/template.py) name them from here.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

COUNT = "Count"
SECONDS = "Seconds"

# The stream handler, per batch (chalicelib.stream.report.BatchReport).
STREAM_METRICS: Mapping[str, str] = {
    "records": COUNT,
    "applied": COUNT,
    "duplicates": COUNT,
    "skipped": COUNT,
    "poison": COUNT,
    "retries": COUNT,
    "failed": COUNT,  # 1 when the batch asked Lambda to redeliver from a record
    "lag_seconds": SECONDS,
}
# The reconciliation, per run (chalicelib.reconcile.report.ReconcileReport).
RECONCILE_METRICS: Mapping[str, str] = {
    "drift": COUNT,  # buckets whose count differs from the recount, confirmed by a re-check
    "in_flight": COUNT,  # differences that moved by the re-check: stream changes, not drift
    "misplaced": COUNT,  # count items in the wrong ranking partition
    "unsettled": COUNT,  # confirmed drift a repair run had to leave
}
# An erasure, per run (chalicelib.erasure.Receipt).
ERASURE_METRICS: Mapping[str, str] = {
    "erased": COUNT,  # favorites the run deleted
}


@dataclass(frozen=True)
class MetricSpace:
    """Where a stage's metrics go: one namespace, one dimension set."""

    namespace: str
    dimensions: Mapping[str, str]

    @classmethod
    def for_stage(cls, namespace: str, stage: str) -> MetricSpace:
        return cls(namespace, {"Stage": stage})


def embed(
    line: Mapping[str, Any], space: MetricSpace, units: Mapping[str, str], timestamp: float
) -> dict[str, Any]:
    """``line`` with the EMF block that publishes its ``units`` members as metrics.

    Every metric must already be a number in ``line``: the block only points
    at it, so the log and the metric cannot disagree.
    """
    for name in units:
        value = line.get(name)
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise ValueError(f"metric {name!r} must be a number in the log line, got {value!r}")
    return {
        **line,
        **space.dimensions,
        "_aws": {
            "Timestamp": int(timestamp * 1000),
            "CloudWatchMetrics": [
                {
                    "Namespace": space.namespace,
                    "Dimensions": [list(space.dimensions)],
                    "Metrics": [{"Name": name, "Unit": unit} for name, unit in units.items()],
                }
            ],
        },
    }
