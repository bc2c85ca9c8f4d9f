"""The CloudWatch metrics the stack watches, each defined once.

A metric is what CloudWatch knows it by (namespace, name, dimensions) plus the
statistic it is read with. The alarms (``infra/alarms.py``) and the dashboard
(``infra/dashboard.py``) render these same definitions, each in its own shape,
so the graph an operator opens shows exactly what the alarm compared.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from chalicelib.metrics import ERASURE_METRICS, RECONCILE_METRICS, STREAM_METRICS, MetricSpace
from chalicelib.settings import from_env
from infra import tables
from infra.stages import Stage

# Levels rather than events: an age, a queue's depth, what one reconciliation
# run found (a repair run reports the same drift again). Read at their highest;
# every other metric counts events, and those add up.
_LEVELS = frozenset(
    {
        "IteratorAge",
        "ApproximateNumberOfMessagesVisible",
        "lag_seconds",
        "drift",
        "in_flight",
        "misplaced",
    }
)


@dataclass(frozen=True)
class Metric:
    namespace: str
    name: str
    dimensions: Mapping[str, str]
    stat: str


@dataclass(frozen=True)
class Expression:
    """Metric math over the queries before it, which it names by their ids."""

    expression: str
    label: str


@dataclass(frozen=True)
class Query:
    """One line of metric math: an id other lines can name, and what it reads."""

    id: str
    reads: Metric | Expression


def _metric(namespace: str, name: str, dimensions: Mapping[str, str]) -> Metric:
    return Metric(namespace, name, dict(dimensions), "Maximum" if name in _LEVELS else "Sum")


@dataclass(frozen=True)
class StageMetrics:
    """Every metric the stack watches for one stage."""

    stage: Stage

    def service(self, name: str) -> Metric:
        """One of the functions' own EMF metrics, in the namespace and with the
        dimensions the functions write it with (``chalicelib.metrics``)."""
        if not any(
            name in metrics for metrics in (STREAM_METRICS, RECONCILE_METRICS, ERASURE_METRICS)
        ):
            raise KeyError(f"the functions publish no metric {name!r}")
        settings = from_env(self.stage.environment)
        space = MetricSpace.for_stage(settings.metrics_namespace, settings.stage)
        return _metric(space.namespace, name, space.dimensions)

    def function(self, name: str, function: str) -> Metric:
        """Lambda's own metric ``name`` (Errors, Throttles, IteratorAge) of one function."""
        return _metric("AWS/Lambda", name, {"FunctionName": self.stage.function_name(function)})

    def favorites_writes(self) -> Metric:
        return _metric(
            "AWS/DynamoDB", "ConsumedWriteCapacityUnits", {"TableName": self.stage.favorites_table}
        )

    def counts_write_throttles(self, *, index: bool) -> Metric:
        """Throttled writes to the counts table, or to its ranking index."""
        dimensions = {"TableName": self.stage.counts_table}
        if index:
            # The table's one index, as tables.json names it: the ranking.
            (ranking,) = tables.resources()["FavoriteCountsTable"]["Properties"][
                "GlobalSecondaryIndexes"
            ]
            dimensions["GlobalSecondaryIndexName"] = ranking["IndexName"]
        return _metric("AWS/DynamoDB", "WriteThrottleEvents", dimensions)

    def failure_queue_depth(self) -> Metric:
        return _metric(
            "AWS/SQS",
            "ApproximateNumberOfMessagesVisible",
            {"QueueName": self.stage.failure_queue_name},
        )

    def erasure_dead_letters(self) -> Metric:
        return _metric(
            "AWS/SQS",
            "ApproximateNumberOfMessagesVisible",
            {"QueueName": self.stage.erasure_dead_letter_queue_name},
        )

    def api_5xx(self) -> Metric:
        dimensions = {"ApiName": self.stage.api_name, "Stage": self.stage.api_gateway_stage}
        return _metric("AWS/ApiGateway", "5XXError", dimensions)
