"""The simulator and the leaderboard against a running stack."""

from __future__ import annotations

import random
import subprocess
import sys
from datetime import UTC, datetime
from typing import Any

import boto3
import pytest

from local import simulate
from local.tokens import token
from tests.stack.conftest import ROOT, Stack, wait_for

pytestmark = pytest.mark.integration


def test_zipf_makes_the_first_restaurants_the_popular_ones():
    weights = simulate.zipf_weights(5, 1.0)
    assert weights == [1.0, 1 / 2, 1 / 3, 1 / 4, 1 / 5]
    rng = random.Random(7)
    picks = rng.choices(["a", "b", "c", "d", "e"], weights, k=5000)
    assert picks.count("a") > 2 * picks.count("c") > 0


def _table_truth(stack: Stack, prefix: str) -> dict[str, int]:
    client = boto3.client(
        "dynamodb",
        endpoint_url=stack.status["dynamodb"],
        region_name="us-east-1",
        aws_access_key_id="local",
        aws_secret_access_key="local",
    )
    counts: dict[str, int] = {}
    for page in client.get_paginator("scan").paginate(
        TableName=stack.status["tables"]["favorites"]
    ):
        for item in page["Items"]:
            restaurant = item["restaurant_id"]["S"]
            if restaurant.startswith(prefix):
                counts[restaurant] = counts.get(restaurant, 0) + 1
    return counts


def _ranking(stack: Stack, prefix: str, window: str = "ALL_TIME", period: str = "") -> Any:
    from local.leaderboard import fetch

    if period:
        import requests

        query = (
            "query($p: String) { topRestaurants(window: MONTH, period: $p, first: 100)"
            " { edges { favoriteCount node { id } } } }"
        )
        body = requests.post(
            f"{stack.api}/public/graphql", json={"query": query, "variables": {"p": period}}
        ).json()
        rows = body["data"]["topRestaurants"]["edges"]
    else:
        rows = fetch(stack.api, 100)[window]
    return {r["node"]["id"]: r["favoriteCount"] for r in rows if r["node"]["id"].startswith(prefix)}


def test_simulated_traffic_and_backdated_favorites_end_up_counted(stack: Stack):
    command = [sys.executable, "-m", "local.simulate", "--data-dir", str(stack.data_dir)]
    command += ["--users", "15", "--restaurants", "5", "--prefix", "sim-", "--rate", "40"]
    command += ["--duration", "2", "--backdate", "30", "--backdate-days", "120", "--seed", "3"]
    result = subprocess.run(
        command,
        check=False,
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    summary = result.stdout.strip().splitlines()[-1]
    assert summary.startswith("done: sent 80, changed ")
    assert "errors 0" in summary
    truth = _table_truth(stack, "sim-")
    assert sum(truth.values()) > 0
    # The stream worker turns what the table holds into the ALL_TIME ranking.
    wait_for(lambda: _ranking(stack, "sim-") == truth, what="ALL_TIME equals the table")
    # Back-dated favorites land in their own months (120 days back spans several).
    this_month = f"{datetime.now(UTC):%Y-%m}"
    month_total = sum(_ranking(stack, "sim-", period=this_month).values())
    assert month_total < sum(truth.values())


def test_leaderboard_shows_the_three_windows_and_the_worker_lag(stack: Stack):
    import requests

    requests.post(
        f"{stack.api}/graphql",
        json={"query": 'mutation { favorite(restaurantId: "board-bistro") { changed } }'},
        headers={"Authorization": token("board-fan")},
        timeout=10,
    )
    wait_for(lambda: _ranking(stack, "board-"), what="board-bistro counted")
    command = [sys.executable, "-m", "local.leaderboard", "--data-dir", str(stack.data_dir)]
    result = subprocess.run(
        [*command, "--once", "--top", "100"],
        check=False,
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=30,
        env={"COLUMNS": "200", "PATH": "/usr/bin:/bin"},
    )
    assert result.returncode == 0, result.stderr
    for title in ("All time", "This month", "Today"):
        assert title in result.stdout
    assert result.stdout.count("board-bistro") == 3  # once per window
    assert "stream worker: lag " in result.stdout
    assert "dynamodb-local" in result.stdout
