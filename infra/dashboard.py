"""The stage's CloudWatch dashboard: the stream's own figures, then one graph per alarm.

An alarm's graph draws the alarm's own queries (``infra/metrics.py``), with the
same period and a line at the threshold, so what pages an operator is what
they see first, and it cannot show something other than what the alarm
compared.
"""

from __future__ import annotations

import json
from typing import Any

from chalicelib.metrics import STREAM_METRICS
from infra import alarms
from infra.metrics import Expression, Query, StageMetrics
from infra.stages import Stage

DASHBOARD = "Dashboard"


def _row(query: Query, period: int, visible: bool) -> list[Any]:
    """One line of a metric widget's ``metrics``."""
    options: dict[str, Any] = {"id": query.id, "visible": visible}
    reads = query.reads
    if isinstance(reads, Expression):
        return [{"expression": reads.expression, **options, "label": reads.label}]
    dimensions = [part for item in reads.dimensions.items() for part in item]
    # The id lets the widget's expressions name this metric, as the alarm's do.
    rendering = {"stat": reads.stat, "period": period, **options}
    return [reads.namespace, reads.name, *dimensions, rendering]


def _widget(title: str, rows: list[list[Any]], width: int, **extra: Any) -> dict[str, Any]:
    properties = {"title": title, "region": "${AWS::Region}", "metrics": rows, **extra}
    return {"type": "metric", "width": width, "height": 6, "properties": properties}


def body(stage: Stage) -> dict[str, Any]:
    metrics = StageMetrics(stage)
    batches = [
        _row(Query(f"s{n}", metrics.service(name)), 60, True)
        for n, name in enumerate(STREAM_METRICS)
        if name != "lag_seconds"
    ]
    widgets = [
        _widget("Stream batches (sum per minute)", batches, 12),
        _widget(
            "Stream lag (seconds, max)",
            [_row(Query("lag", metrics.service("lag_seconds")), 60, True)],
            12,
        ),
        # Beside the drift alarm's graph: what the last runs saw move (no alarm;
        # a busy stream shows here, not as drift) and what a repair had to leave.
        _widget(
            "Reconciliation: differences in flight, drift left unrepaired (per hour)",
            [
                _row(Query(f"r{n}", metrics.service(name)), 3600, True)
                for n, name in enumerate(("in_flight", "unsettled"))
            ],
            8,
        ),
        _widget(
            "Favorites erased on request (sum per hour)",
            [_row(Query("erased", metrics.service("erased")), 3600, True)],
            12,
        ),
    ]
    for alarm in alarms.for_stage(stage):
        rows = [_row(q, alarm.period, q.id == alarm.returned) for q in alarm.queries]
        threshold = {"horizontal": [{"label": "alarm", "value": alarm.threshold}]}
        widgets.append(_widget(alarm.title, rows, 8, annotations=threshold))
    return {"widgets": widgets}


def resources(stage: Stage) -> dict[str, Any]:
    return {
        DASHBOARD: {
            "Type": "AWS::CloudWatch::Dashboard",
            "Properties": {
                "DashboardName": f"{stage.app_name}-{stage.name}",
                # Fn::Sub fills in ${AWS::Region}: a widget names its region.
                "DashboardBody": {"Fn::Sub": json.dumps(body(stage))},
            },
        }
    }
