"""The EMF lines, checked against the rules of AWS's Embedded Metric Format
specification, and the JSON log lines that carry them."""

from __future__ import annotations

import io
import json
import logging
from typing import Any

import jsonschema
import pytest

from chalicelib import logs
from chalicelib.metrics import RECONCILE_METRICS, STREAM_METRICS, MetricSpace, embed
from chalicelib.reconcile.report import ReconcileReport
from chalicelib.stream.report import BatchReport

# CloudWatch's units (MetricDatum.Unit).
UNITS = [
    "Seconds", "Microseconds", "Milliseconds", "Bytes", "Kilobytes", "Megabytes", "Gigabytes",
    "Terabytes", "Bits", "Kilobits", "Megabits", "Gigabits", "Terabits", "Percent", "Count",
    "Bytes/Second", "Kilobytes/Second", "Megabytes/Second", "Gigabytes/Second",
    "Terabytes/Second", "Bits/Second", "Kilobits/Second", "Megabits/Second",
    "Gigabits/Second", "Terabits/Second", "Count/Second", "None",
]  # fmt: skip
NON_BLANK = {"type": "string", "minLength": 1, "maxLength": 255, "pattern": r"\S"}
# The document structure the specification states, as a JSON Schema: a root
# object with `_aws`, whose Timestamp is epoch milliseconds and whose
# directives name a namespace, dimension sets (at most 30 names each) and at
# most 100 metric definitions; the specification's objects take no other members.
EMF_SCHEMA: dict[str, Any] = {
    "type": "object",
    "required": ["_aws"],
    "properties": {
        "_aws": {
            "type": "object",
            "required": ["Timestamp", "CloudWatchMetrics"],
            "properties": {
                "Timestamp": {"type": "integer", "minimum": 0},
                "CloudWatchMetrics": {
                    "type": "array",
                    "minItems": 1,
                    "items": {
                        "type": "object",
                        "required": ["Namespace", "Dimensions", "Metrics"],
                        "additionalProperties": False,
                        "properties": {
                            "Namespace": NON_BLANK,
                            "Dimensions": {
                                "type": "array",
                                "items": {
                                    "type": "array",
                                    "maxItems": 30,
                                    "items": {"type": "string", "minLength": 1},
                                },
                            },
                            "Metrics": {
                                "type": "array",
                                "maxItems": 100,
                                "items": {
                                    "type": "object",
                                    "required": ["Name"],
                                    "additionalProperties": False,
                                    "properties": {
                                        "Name": NON_BLANK,
                                        "Unit": {"enum": UNITS},
                                        "StorageResolution": {"enum": [1, 60]},
                                    },
                                },
                            },
                        },
                    },
                },
            },
        }
    },
}


def check_emf(line: dict[str, Any]) -> None:
    """Raise unless ``line`` is an EMF document CloudWatch would extract from."""
    jsonschema.validate(line, EMF_SCHEMA)
    for directive in line["_aws"]["CloudWatchMetrics"]:
        # Target members: every dimension a string at the root (1..1024
        # characters), every metric a number or an array of at most 100 numbers.
        for dimension_set in directive["Dimensions"]:
            for name in dimension_set:
                value = line.get(name)
                assert isinstance(value, str), (name, value)
                assert 1 <= len(value) <= 1024, (name, value)
        for metric in directive["Metrics"]:
            value = line.get(metric["Name"])
            values = value if isinstance(value, list) else [value]
            assert 1 <= len(values) <= 100, metric
            for number in values:
                assert isinstance(number, int | float), (metric, value)
                assert not isinstance(number, bool), (metric, value)


SPACE = MetricSpace.for_stage("Favorites", "prod")


def test_a_batch_line_is_valid_emf_with_every_stream_metric() -> None:
    report = BatchReport(records=100, applied=97, duplicates=2, skipped=1, poison=1, retries=3)
    report.lag_seconds = 1.25
    report.failed_sequence_number = "4200"
    line = report.log_fields(SPACE, timestamp=1_790_000_000.5)
    check_emf(line)
    (directive,) = line["_aws"]["CloudWatchMetrics"]
    assert directive["Namespace"] == "Favorites"
    assert directive["Dimensions"] == [["Stage"]]
    assert line["Stage"] == "prod"
    assert {m["Name"]: m["Unit"] for m in directive["Metrics"]} == dict(STREAM_METRICS)
    assert set(STREAM_METRICS) >= {"records", "applied", "duplicates", "skipped", "poison"}
    assert (line["records"], line["applied"], line["poison"], line["failed"]) == (100, 97, 1, 1)
    assert line["lag_seconds"] == 1.25
    assert line["_aws"]["Timestamp"] == 1_790_000_000_500


def test_a_reconciliation_summary_is_valid_emf_with_drift_and_misplaced() -> None:
    summary = {"repair": False, **ReconcileReport().summary()}
    line = embed(summary, SPACE, RECONCILE_METRICS, timestamp=1_790_000_000)
    check_emf(line)
    names = [m["Name"] for m in line["_aws"]["CloudWatchMetrics"][0]["Metrics"]]
    assert {"drift", "misplaced"} <= set(names)


def test_the_checker_rejects_what_cloudwatch_would_not_extract() -> None:
    good = BatchReport(records=1).log_fields(SPACE, timestamp=1.0)
    check_emf(good)
    no_timestamp = json.loads(json.dumps(good))
    del no_timestamp["_aws"]["Timestamp"]
    bad_unit = json.loads(json.dumps(good))
    bad_unit["_aws"]["CloudWatchMetrics"][0]["Metrics"][0]["Unit"] = "Things"
    missing_dimension = {key: value for key, value in good.items() if key != "Stage"}
    text_metric = {**good, "records": "1"}
    for broken in (no_timestamp, bad_unit, missing_dimension, text_metric):
        with pytest.raises((jsonschema.ValidationError, AssertionError)):
            check_emf(broken)


def test_a_metric_must_be_a_number_already_in_the_line() -> None:
    with pytest.raises(ValueError, match="records"):
        embed({"records": True}, SPACE, {"records": "Count"}, 0.0)
    with pytest.raises(ValueError, match="lag"):
        embed({}, SPACE, {"lag": "Seconds"}, 0.0)


def test_in_lambda_every_line_is_one_bare_json_object_with_its_context(
    lambda_logging: io.StringIO,
) -> None:
    logs.bind(request_id="req-1", operation="aggregate")
    fields = BatchReport(records=2, applied=2).log_fields(SPACE, timestamp=5.0)
    logging.getLogger("chalicelib.stream").info("favorites stream batch", extra={"fields": fields})
    logging.getLogger("chalicelib.rankings").warning("plain %s", "text")
    lines = lambda_logging.getvalue().splitlines()
    assert len(lines) == 2  # configured twice, one handler
    batch, plain = (json.loads(line) for line in lines)
    # No text before the object: CloudWatch extracts the metrics from it.
    assert lines[0].startswith("{")
    check_emf(batch)
    assert batch["request_id"] == "req-1"
    assert batch["operation"] == "aggregate"
    assert batch["function"] == "favorites-prod-aggregate"
    assert batch["stage"] == "prod"
    assert batch["level"] == "INFO"
    assert plain["message"] == "plain text"
    assert plain["level"] == "WARNING"
    assert plain["request_id"] == "req-1"
    assert "_aws" not in plain


def test_outside_lambda_records_go_to_the_root_logger_as_before() -> None:
    logger = logging.getLogger("chalicelib")
    handlers, propagate = list(logger.handlers), logger.propagate
    logs.configure("local", "INFO", {})
    assert logger.handlers == handlers
    assert logger.propagate == propagate


def test_a_terminal_line_shows_the_fields_but_not_the_metrics_block() -> None:
    fields = BatchReport(records=2, applied=2).log_fields(SPACE, timestamp=5.0)
    record = logging.LogRecord("chalicelib.stream", logging.INFO, "", 0, "batch", (), None)
    record.fields = fields
    text = logs.TextFormatter("%(name)s %(message)s").format(record)
    prefix, shown = text.split(" ", 2)[:2], json.loads(text.split(" ", 2)[2])
    assert prefix == ["chalicelib.stream", "batch"]
    assert (shown["records"], shown["applied"]) == (2, 2)
    assert "_aws" not in shown


def test_a_quieter_log_level_keeps_the_report_lines_and_so_the_metrics(
    lambda_logging: io.StringIO,
) -> None:
    from chalicelib.stream.handler import handle_stream_batch
    from devtools.fakes import FakeTime, MemoryTransactions, counts_writer
    from tests.support import FAVORITES_TABLE, stream_record

    logs.configure("prod", "ERROR", {"AWS_LAMBDA_FUNCTION_NAME": "favorites-prod-aggregate"})
    logging.getLogger("chalicelib.stream").warning("a warning LOG_LEVEL=ERROR drops")
    handle_stream_batch(
        [stream_record("INSERT")], counts_writer(MemoryTransactions(), FakeTime()), FAVORITES_TABLE,
        metrics=SPACE,
    )  # fmt: skip
    (line,) = [json.loads(text) for text in lambda_logging.getvalue().splitlines()]
    assert line["message"] == "favorites stream batch"
    check_emf(line)
    assert line["applied"] == 1
