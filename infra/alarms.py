"""The alarms, and the SNS topic every one of them notifies.

The worst failure of this service is silent: the stream stops being counted
and the rankings freeze while the API answers 200. So each way that can happen
(and each way the API can fail its clients) has an alarm; the README's
"Operating it in AWS" section says what each one means and what to do.
Thresholds come per stage from ``infra.stages.Operations``; the metrics are the
ones ``infra/metrics.py`` defines, which the dashboard shows too.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from infra.metrics import Expression, Query, StageMetrics
from infra.stages import Stage, camel

ALARM_TOPIC = "AlarmTopic"
ALARM_SUBSCRIPTION = "AlarmEmailSubscription"


@dataclass(frozen=True)
class Alarm:
    logical_id: str
    title: str
    # What the alarm means; the runbook (README) says what to do.
    description: str
    queries: tuple[Query, ...]
    threshold: float
    period: int = 300
    evaluation_periods: int = 1
    # No data means nothing happened (no errors, no batches), which is fine,
    # except for the alarms that watch for silence themselves.
    missing_data: str = "notBreaching"
    notify_ok: bool = True

    @property
    def returned(self) -> str:
        """The query the alarm compares: the last one (an expression, if any)."""
        return self.queries[-1].id

    def cloudformation(self, stage: Stage) -> dict[str, Any]:
        actions = [{"Ref": ALARM_TOPIC}]
        return {
            "Type": "AWS::CloudWatch::Alarm",
            "Properties": {
                "AlarmName": f"{stage.app_name}-{stage.name}-{self.title}",
                "AlarmDescription": self.description,
                "Metrics": [
                    _metric_data_query(q, self.period, q.id == self.returned) for q in self.queries
                ],
                "Threshold": self.threshold,
                "ComparisonOperator": "GreaterThanOrEqualToThreshold",
                "EvaluationPeriods": self.evaluation_periods,
                "DatapointsToAlarm": self.evaluation_periods,
                "TreatMissingData": self.missing_data,
                "AlarmActions": actions,
                **({"OKActions": actions} if self.notify_ok else {}),
            },
        }


def _metric_data_query(query: Query, period: int, returned: bool) -> dict[str, Any]:
    """One entry of an alarm's ``Metrics`` (CloudFormation's MetricDataQuery)."""
    line: dict[str, Any] = {"Id": query.id, "ReturnData": returned}
    reads = query.reads
    if isinstance(reads, Expression):
        return {**line, "Label": reads.label, "Expression": reads.expression}
    dimensions = [{"Name": name, "Value": value} for name, value in reads.dimensions.items()]
    metric = {"Namespace": reads.namespace, "MetricName": reads.name, "Dimensions": dimensions}
    return {**line, "MetricStat": {"Metric": metric, "Period": period, "Stat": reads.stat}}


def for_stage(stage: Stage) -> list[Alarm]:
    ops = stage.operations
    metrics = StageMetrics(stage)
    result = [
        Alarm(
            "StreamIteratorAgeAlarm",
            "stream-iterator-age",
            f"Favorites older than {ops.iterator_age_alarm_seconds} s are still waiting to be "
            "counted: the stream function is failing, throttled or too slow, and the rankings "
            "are falling behind.",
            (Query("m", metrics.function("IteratorAge", "aggregate_favorites")),),
            threshold=ops.iterator_age_alarm_seconds * 1000,  # IteratorAge is in ms
            period=60,
            evaluation_periods=5,
        ),
        Alarm(
            "StreamSilentAlarm",
            "stream-silent",
            "Favorites were written but the stream handler reported no batch for 30 minutes: "
            "records are being dropped before the handler (event filter, disabled or deleted "
            "event source mapping) and the rankings are frozen.",
            (
                Query("writes", metrics.favorites_writes()),
                Query("records", metrics.service("records")),
                Query(
                    "silent",
                    Expression(
                        "IF(FILL(writes, 0) > 0 AND FILL(records, 0) == 0, 1, 0)",
                        "writes without stream batches",
                    ),
                ),
            ),
            threshold=1,
            period=600,
            evaluation_periods=3,
        ),
        Alarm(
            "StreamFailureQueueAlarm",
            "stream-failure-queue",
            "Lambda gave up on stream records (retries or record age exhausted) and sent "
            "their shard and sequence range to the failure queue: those favorites are not "
            "counted until reconciliation repairs them.",
            (Query("m", metrics.failure_queue_depth()),),
            threshold=1,
        ),
        Alarm(
            "PoisonRecordsAlarm",
            "poison-records",
            "The stream handler skipped records it can never apply (malformed images): "
            "something writes favorites the service does not understand.",
            (Query("m", metrics.service("poison")),),
            threshold=1,
        ),
        Alarm(
            "CountsWriteThrottleAlarm",
            "counts-write-throttles",
            "Writes to the counts table or its ranking index were throttled: the stream "
            "handler retries, lag grows; a hot ranking partition needs more RANKING_SHARDS.",
            (
                Query("table", metrics.counts_write_throttles(index=False)),
                Query("index", metrics.counts_write_throttles(index=True)),
                Query(
                    "throttled",
                    Expression("FILL(table, 0) + FILL(index, 0)", "throttled writes"),
                ),
            ),
            threshold=1,
        ),
        Alarm(
            "ReconcileDriftAlarm",
            "reconcile-drift",
            "The daily reconciliation found counts that differ from the favorites table, or "
            "count items in the wrong ranking partition: some change was counted twice or "
            "not at all.",
            (
                Query("drift", metrics.service("drift")),
                Query("misplaced", metrics.service("misplaced")),
                Query(
                    "found",
                    Expression(
                        "FILL(drift, 0) + FILL(misplaced, 0)", "drifted buckets + misplaced items"
                    ),
                ),
            ),
            threshold=1,
            period=3600,
            # The run is daily: the alarm clears by itself once the hour passes.
            notify_ok=False,
        ),
        Alarm(
            "ErasureDeadLettersAlarm",
            "erasure-dead-letters",
            "An erasure request was received as often as the queue allows without "
            "finishing (malformed, or DynamoDB failing) and moved to the erasure "
            "dead-letter queue: a user's favorites may not be erased until an operator acts.",
            (Query("m", metrics.erasure_dead_letters()),),
            threshold=1,
        ),
        Alarm(
            "Api5xxAlarm",
            "api-5xx",
            "The API answered with server errors (5XX): clients see failures; the access "
            "log's requestId matches the errors' extensions.requestId.",
            (Query("m", metrics.api_5xx()),),
            threshold=ops.api_5xx_alarm_count,
        ),
    ]
    per_function = (
        ("Errors", "errors", "failed (an exception or a timeout)"),
        ("Throttles", "throttles", "was refused invocations (concurrency)"),
    )
    for function in stage.functions:
        for metric, suffix, what in per_function:
            result.append(
                Alarm(
                    f"{camel(function)}{metric}Alarm",
                    f"{function.replace('_', '-')}-{suffix}",
                    f"The {function} function {what}.",
                    (Query("m", metrics.function(metric, function)),),
                    threshold=1,
                )
            )
    return result


def resources(stage: Stage, *, email: dict[str, Any], email_condition: str) -> dict[str, Any]:
    """The topic, its e-mail subscription (made only when ``email_condition``
    holds: the address is a stack parameter) and every alarm of the stage."""
    result: dict[str, Any] = {
        ALARM_TOPIC: {
            "Type": "AWS::SNS::Topic",
            "Properties": {"TopicName": f"{stage.app_name}-{stage.name}-alarms"},
        },
        ALARM_SUBSCRIPTION: {
            "Type": "AWS::SNS::Subscription",
            "Condition": email_condition,
            "Properties": {
                "TopicArn": {"Ref": ALARM_TOPIC},
                "Protocol": "email",
                "Endpoint": email,
            },
        },
    }
    for alarm in for_stage(stage):
        result[alarm.logical_id] = alarm.cloudformation(stage)
    return result
