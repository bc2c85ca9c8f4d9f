"""The stack stopped and started on the same data folder: nothing lost, nothing counted twice."""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

import pytest

from local import status
from tests.stack.conftest import Stack, post, require_java, wait_for, worker_passes

pytestmark = pytest.mark.integration

FAVORITE = 'mutation { favorite(restaurantId: "%s") { changed } }'


def _counts(api: str, prefix: str) -> dict[str, int]:
    result = post(
        f"{api}/public/graphql",
        "{ topRestaurants(first: 100) { edges { favoriteCount node { id } } } }",
    )
    rows = result["data"]["topRestaurants"]["edges"]
    return {r["node"]["id"]: r["favoriteCount"] for r in rows if r["node"]["id"].startswith(prefix)}


def _viewer_favorites(api: str, user: str) -> list[str]:
    result = post(f"{api}/graphql", "{ viewer { favorites { edges { node { id } } } } }", user)
    return [edge["node"]["id"] for edge in result["data"]["viewer"]["favorites"]["edges"]]


def _worker(data_dir: Path, newer_than: float) -> dict[str, Any]:
    """The stream worker's counters from a status written after ``newer_than``."""

    def fresh() -> dict[str, Any] | None:
        running = status.read(data_dir)
        if running is None or running["updated_at"] <= newer_than:
            return None
        return dict(running["worker"])

    return dict(wait_for(fresh, timeout=10, what="a fresh status file"))


def test_a_restart_keeps_favorites_counts_and_the_stream_checkpoint(tmp_path: Path):
    require_java()
    first = Stack(tmp_path)
    try:
        assert post(f"{first.api}/graphql", FAVORITE % "restart-diner", "ann") == {
            "data": {"favorite": {"changed": True}}
        }
        wait_for(lambda: _counts(first.api, "restart-") == {"restart-diner": 1}, what="count")
        assert _worker(tmp_path, time.time())["records"] == 1
    finally:
        assert first.stop() == set()
    checkpoints = json.loads((tmp_path / "stream-checkpoints.json").read_text())
    assert checkpoints, "the stream worker kept no checkpoint"

    second = Stack(tmp_path)
    try:
        assert second.status["tables"] == first.status["tables"]
        assert _viewer_favorites(second.api, "ann") == ["restart-diner"]
        assert _counts(second.api, "restart-") == {"restart-diner": 1}
        # Several polls later the worker has delivered nothing: it resumed after its
        # checkpoint instead of replaying the stream from its start.
        assert worker_passes(tmp_path)["records"] == 0
        assert _counts(second.api, "restart-") == {"restart-diner": 1}

        post(f"{second.api}/graphql", FAVORITE % "restart-cafe", "bob")
        expected = {"restart-diner": 1, "restart-cafe": 1}
        wait_for(lambda: _counts(second.api, "restart-") == expected, what="new count")
        assert _worker(tmp_path, time.time())["records"] == 1
        worker_passes(tmp_path)  # several polls later: still counted once
        assert _counts(second.api, "restart-") == expected
    finally:
        assert second.stop() == set()
