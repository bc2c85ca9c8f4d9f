"""The container's memory of a viewer's own recent taps: bounded in time and size."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from chalicelib.favorites import RecentChanges


class Clock:
    def __init__(self) -> None:
        self.now = datetime(2026, 12, 3, 12, 0, tzinfo=UTC)

    def __call__(self) -> datetime:
        return self.now


def test_a_change_is_remembered_for_the_window_then_forgotten():
    clock = Clock()
    recent = RecentChanges(clock, window_seconds=10)
    recent.record("alice", "r1", favorited=True)
    clock.now += timedelta(seconds=5)
    recent.record("alice", "r2", favorited=False)
    recent.record("bob", "r1", favorited=False)
    assert recent.of("alice") == {"r1": True, "r2": False}
    assert recent.of("bob") == {"r1": False}
    clock.now += timedelta(seconds=6)
    assert recent.of("alice") == {"r2": False}
    clock.now += timedelta(seconds=5)
    assert recent.of("alice") == {}


def test_the_latest_change_of_a_pair_wins_and_renews_it():
    clock = Clock()
    recent = RecentChanges(clock, window_seconds=10)
    recent.record("alice", "r1", favorited=True)
    clock.now += timedelta(seconds=8)
    recent.record("alice", "r1", favorited=False)
    clock.now += timedelta(seconds=8)
    assert recent.of("alice") == {"r1": False}


def test_memory_is_capped_oldest_first():
    recent = RecentChanges(Clock(), limit=3)
    for index in range(5):
        recent.record("alice", f"r{index}", favorited=True)
    assert recent.of("alice") == {"r2": True, "r3": True, "r4": True}
