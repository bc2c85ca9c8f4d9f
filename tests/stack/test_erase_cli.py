"""``python -m ops.erase`` on the running local stack: the favorites go, the counts follow."""

from __future__ import annotations

import json
import subprocess
import sys
import uuid

import pytest

from chalicelib.erasure import user_hash
from tests.stack.conftest import ROOT, Stack, post, stack_environment, wait_for

pytestmark = pytest.mark.integration

FAVORITE = 'mutation { favorite(restaurantId: "%s") { changed } }'
MINE = "{ viewer { favorites(first: 10) { edges { node { id } } } } }"


def counts(stack: Stack, restaurants: list[str]) -> dict[str, int]:
    ids = ", ".join(f'"{r}"' for r in restaurants)
    found = post(
        f"{stack.api}/public/graphql", f"{{ restaurants(ids: [{ids}]) {{ id favoriteCount }} }}"
    )
    return {row["id"]: row["favoriteCount"] for row in found["data"]["restaurants"]}


def test_the_erase_command_empties_a_users_favorites_and_the_stream_decrements(stack: Stack):
    tag = uuid.uuid4().hex[:8]
    user, keeper = f"erase-{tag}", f"keeper-{tag}"
    restaurants = [f"0-erase-{tag}-{n}" for n in range(3)]
    for restaurant in restaurants:
        assert post(f"{stack.api}/graphql", FAVORITE % restaurant, user)["data"]["favorite"]
    post(f"{stack.api}/graphql", FAVORITE % restaurants[0], keeper)
    before = dict(zip(restaurants, (2, 1, 1), strict=True))
    wait_for(lambda: counts(stack, restaurants) == before, what="the favorites counted")

    result = subprocess.run(
        [sys.executable, "-m", "ops.erase", "--data-dir", str(stack.data_dir), user],
        cwd=ROOT,
        env={**stack_environment(), "PYTHONPATH": str(ROOT)},
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    receipt = json.loads(result.stdout)
    assert receipt["user_hash"] == user_hash(user)
    assert (receipt["erased"], receipt["finished"]) == (3, True)

    after = dict(zip(restaurants, (1, 0, 0), strict=True))
    wait_for(lambda: counts(stack, restaurants) == after, what="the erasure counted")
    assert post(f"{stack.api}/graphql", MINE, user)["data"]["viewer"]["favorites"]["edges"] == []
    kept = post(f"{stack.api}/graphql", MINE, keeper)["data"]["viewer"]["favorites"]["edges"]
    assert kept == [{"node": {"id": restaurants[0]}}]
