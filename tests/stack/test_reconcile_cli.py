"""``python -m ops.reconcile`` with no option finds the running local stack by itself."""

from __future__ import annotations

import json
from pathlib import Path

import boto3
import pytest

from tests.stack.conftest import Stack, current, run_reconcile

pytestmark = pytest.mark.integration


def drift_lines(stdout: str, restaurant: str) -> list[dict[str, object]]:
    lines = [json.loads(line) for line in stdout.splitlines() if line.strip()]
    return [line for line in lines if line.get("restaurant_id") == restaurant]


def test_the_reconciler_with_no_option_reports_and_repairs_the_running_stack(watched: Stack):
    running = current(watched)
    clean = run_reconcile(watched)
    assert clean.returncode == 0, clean.stderr
    assert drift_lines(clean.stdout, "rc-ghost") == []

    # A count no favorite backs: drift only a reconciler reading this stack can see.
    client = boto3.client(
        "dynamodb",
        endpoint_url=running["dynamodb"],
        region_name="us-east-1",
        aws_access_key_id="local",
        aws_secret_access_key="local",
    )
    client.put_item(
        TableName=running["tables"]["counts"],
        Item={
            "restaurant_id": {"S": "rc-ghost"},
            "bucket": {"S": "ALL"},
            "favorite_count": {"N": "3"},
            "rank_partition": {"S": "ALL#0"},
        },
    )
    found = run_reconcile(watched)
    assert found.returncode == 1, found.stderr
    assert drift_lines(found.stdout, "rc-ghost"), found.stdout

    repaired = run_reconcile(watched, "--repair")  # the worker is up and caught up
    assert repaired.returncode == 0, repaired.stderr
    again = run_reconcile(watched)
    assert again.returncode == 0, again.stdout
    assert drift_lines(again.stdout, "rc-ghost") == []


def test_the_reconciler_says_when_no_stack_runs_in_the_folder(watched: Stack, tmp_path: Path):
    result = run_reconcile(watched, "--data-dir", str(tmp_path))
    assert result.returncode == 1
    assert f"error: no running local stack in {tmp_path}/" in result.stderr
    assert "NoCredentialsError" not in result.stderr
