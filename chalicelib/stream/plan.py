"""Stream events into chunks, each small enough for one transaction."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from chalicelib.counts import CountKey
from chalicelib.stream.records import FavoriteEvent

MAX_TRANSACTION_ACTIONS = 100


def sum_deltas(events: Iterable[FavoriteEvent]) -> dict[CountKey, int]:
    """Net change per (restaurant, bucket); a transaction may touch an item once."""
    deltas: dict[CountKey, int] = {}
    for event in events:
        for key in event.count_keys():
            deltas[key] = deltas.get(key, 0) + event.delta
    return deltas


@dataclass(frozen=True)
class Chunk:
    """Consecutive events that fit in one transaction."""

    events: tuple[FavoriteEvent, ...]

    @property
    def deltas(self) -> dict[CountKey, int]:
        return {key: delta for key, delta in sum_deltas(self.events).items() if delta}

    @property
    def action_count(self) -> int:
        return len(self.events) + len(self.deltas)


def plan_chunks(
    events: Sequence[FavoriteEvent], max_actions: int = MAX_TRANSACTION_ACTIONS
) -> list[Chunk]:
    """Split events, in stream order, into chunks of at most ``max_actions`` actions.

    Each event costs one marker plus the count items it adds to its chunk.
    Stream order is kept so that a failed chunk's first event is the first
    record not applied.
    """
    chunks: list[Chunk] = []
    current: list[FavoriteEvent] = []
    keys: set[CountKey] = set()
    for event in events:
        new_keys = set(event.count_keys()) - keys
        if current and len(current) + 1 + len(keys) + len(new_keys) > max_actions:
            chunks.append(Chunk(tuple(current)))
            current, keys = [], set()
            new_keys = set(event.count_keys())
        current.append(event)
        keys |= new_keys
    if current:
        chunks.append(Chunk(tuple(current)))
    return chunks
