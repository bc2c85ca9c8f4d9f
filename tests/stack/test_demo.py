"""``make demo``: the stack, the simulator and the leaderboard, stopped with Ctrl-C."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
from pathlib import Path

import boto3
import pytest

from local import status
from local.dynamodb_local import free_port
from local.leaderboard import fetch
from tests.stack.conftest import (
    ROOT,
    alive,
    descendants,
    require_java,
    stack_environment,
    wait_for,
)

pytestmark = pytest.mark.integration


def _table_count(stack: dict[str, object], prefix: str) -> int:
    client = boto3.client(
        "dynamodb",
        endpoint_url=str(stack["dynamodb"]),
        region_name="us-east-1",
        aws_access_key_id="local",
        aws_secret_access_key="local",
    )
    tables = stack["tables"]
    assert isinstance(tables, dict)
    total = 0
    for page in client.get_paginator("scan").paginate(TableName=tables["favorites"]):
        total += sum(1 for item in page["Items"] if item["restaurant_id"]["S"].startswith(prefix))
    return total


def test_demo_shows_the_board_counts_the_traffic_and_stops_on_ctrl_c(tmp_path: Path):
    require_java()
    env = stack_environment()
    env["COLUMNS"] = "200"
    command = [sys.executable, "-m", "local.demo", "--data-dir", str(tmp_path), "--duration", "2"]
    command += ["--port", str(free_port()), "--dynamodb-port", str(free_port())]
    command += ["--web-port", str(free_port()), "--cache-port", str(free_port())]
    output = tmp_path / "demo.out"
    with output.open("wb") as out:
        # Its own process group, as a terminal's foreground job: Ctrl-C signals the group.
        demo = subprocess.Popen(
            command, cwd=ROOT, env=env, stdout=out, stderr=subprocess.STDOUT, start_new_session=True
        )
    try:
        stack = status.wait(tmp_path, timeout=90)
        simulate_log = tmp_path / "simulate.log"
        wait_for(
            lambda: simulate_log.exists() and "done: " in simulate_log.read_text(),
            timeout=60,
            what="the simulator finishing",
        )
        summary = simulate_log.read_text().strip().splitlines()[-1]
        match = re.fullmatch(
            r"done: sent (\d+), changed (\d+), .*errors 0, back-dated (\d+)", summary
        )
        assert match, summary
        assert int(match[1]) > 0
        assert int(match[3]) > 0  # up to 300: a repeated user and restaurant is one
        # The stream worker counted every favorite the table holds: the back-dated
        # ones and the simulated traffic.
        expected = _table_count(stack, "restaurant-")
        assert expected > 0

        def counted() -> bool:
            rows = fetch(str(stack["api"]), 100)["ALL_TIME"]
            return bool(sum(r["favoriteCount"] for r in rows) == expected)

        wait_for(counted, timeout=20, what="ALL_TIME equal to the table")
        started = descendants(demo.pid)
        assert len(started) >= 3  # the stack, DynamoDB Local (java), chalice local
    finally:
        started = descendants(demo.pid)
        if demo.poll() is None:
            os.killpg(demo.pid, signal.SIGINT)
        try:
            returncode = demo.wait(timeout=60)
        except subprocess.TimeoutExpired:
            os.killpg(demo.pid, signal.SIGKILL)
            raise
    wait_for(lambda: not any(alive(p) for p in started), timeout=10, what="every process gone")
    text = output.read_text(errors="replace")
    assert returncode == 0, text
    for title in ("All time", "This month", "Today"):
        assert title in text
    assert "restaurant-" in text
    assert "stream worker: lag " in text
    assert status.read(tmp_path) is None
