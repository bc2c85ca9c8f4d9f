"""What the leaderboard warns about and when the reconciler refuses to repair: from a status."""

from __future__ import annotations

from typing import Any

import pytest

from local.leaderboard import warnings
from ops.reconcile import repair_blocker

NOW = 1_800_000_000.0


def stack(**worker: Any) -> dict[str, Any]:
    healthy = {"state": "up", "heartbeat_at": NOW - 0.3, "lag_seconds": 0.4, "failing": None}
    return {
        "updated_at": NOW - 0.2,
        "worker": {**healthy, **worker},
        "parts": {
            "dynamodb": {"title": "DynamoDB Local", "state": "up"},
            "worker": {"title": "stream worker", "state": worker.get("state", "up")},
            "api": {"title": "chalice local", "state": "up"},
        },
    }


def test_a_healthy_stack_has_no_warning_and_may_be_repaired():
    assert warnings(stack(), NOW) == []
    assert repair_blocker(stack(), 5.0, NOW) is None


@pytest.mark.parametrize(
    ("worker", "warning", "blocker"),
    [
        (
            {"state": "restarting", "last_error": "killed by SIGKILL"},
            "stream worker RESTARTING: new favorites are not being counted (killed by SIGKILL)",
            "the stream worker is restarting",
        ),
        (
            {"heartbeat_at": NOW - 12},
            "stream worker silent for 12s: it may be stuck",
            "the stream worker has not beaten for a while",
        ),
        (
            {"lag_seconds": 42.0},
            "stream worker lagging: 42.0s behind the writes",
            "the stream handler's lag_seconds is 42.0, above --max-lag 5",
        ),
    ],
)
def test_a_worker_down_silent_or_lagging_warns_and_blocks_repair(worker, warning, blocker):
    status = stack(**worker)
    assert warning in warnings(status, NOW)
    assert repair_blocker(status, 5.0, NOW) == blocker


def test_a_lag_under_the_threshold_does_not_block_a_repair():
    assert repair_blocker(stack(lag_seconds=4.0), 5.0, NOW) is None
    assert repair_blocker(stack(lag_seconds=4.0), 3.0, NOW) is not None


def test_a_stale_status_file_warns_and_blocks_repair():
    status = {**stack(), "updated_at": NOW - 30}
    assert "the stack has not updated its status for 30s" in warnings(status, NOW)
    assert "stale" in (repair_blocker(status, 5.0, NOW) or "")


def test_another_part_restarting_is_shown():
    status = stack()
    status["parts"]["dynamodb"]["state"] = "restarting"
    assert warnings(status, NOW) == ["DynamoDB Local RESTARTING"]


def test_a_worker_failing_now_is_shown():
    status = stack(failing="polling the stream: EndpointConnectionError")
    assert warnings(status, NOW) == [
        "stream worker failing: polling the stream: EndpointConnectionError"
    ]
