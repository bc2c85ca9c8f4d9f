"""Starting and stopping the whole stack: signals, and the fallback without Java."""

from __future__ import annotations

import signal
import sys
from pathlib import Path

import pytest

from local import backends, status
from tests.stack.conftest import Stack, post, require_java, wait_for

pytestmark = pytest.mark.integration


def all_time(api: str) -> list[object]:
    result = post(
        f"{api}/public/graphql", "{ topRestaurants { edges { favoriteCount node { id } } } }"
    )
    return list(result["data"]["topRestaurants"]["edges"])


def test_backend_choice_follows_java():
    assert backends.choose("auto", "/usr/bin/java") == "dynamodb-local"
    assert backends.choose("auto", None) == "moto"
    assert backends.choose("moto", "/usr/bin/java") == "moto"


def test_sigterm_stops_every_process_the_stack_started(tmp_path: Path):
    require_java()
    stack = Stack(tmp_path)
    assert stack.status["backend"] == "dynamodb-local"
    # DynamoDB Local (java) and chalice local at least.
    from tests.stack.conftest import descendants

    assert len(descendants(stack.process.pid)) >= 2
    assert stack.stop(signal.SIGTERM) == set()
    assert stack.process.returncode == 0
    assert status.read(tmp_path) is None  # the status file goes with it


def test_without_java_the_stack_runs_on_moto_and_counts_a_favorite(tmp_path: Path):
    # Only the venv's own scripts on PATH: no java to be found.
    stack = Stack(tmp_path, path=str(Path(sys.executable).parent))
    try:
        assert stack.status["backend"] == "moto"
        assert "Java is missing" in stack.output()
        assert "transactions" in stack.output()
        result = post(
            f"{stack.api}/graphql",
            'mutation { favorite(restaurantId: "moto-diner") { changed } }',
            user="ann",
        )
        assert result == {"data": {"favorite": {"changed": True}}}
        # Only the stream worker turns the favorite into a count.
        ranking = wait_for(lambda: all_time(stack.api), what="count from the stream worker")
        assert ranking == [{"favoriteCount": 1, "node": {"id": "moto-diner"}}]
    finally:
        leftover = stack.stop(signal.SIGINT)
    assert leftover == set()
    assert stack.process.returncode == 0
