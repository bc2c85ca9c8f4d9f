"""BatchGetItem done right: at most 100 keys a call, unprocessed keys retried with backoff.

The adapters pass a ``send`` that calls their own client, so the calls stay
visible where the IAM policy test looks for them (``self._client.<call>``).
"""

from __future__ import annotations

import random
import time
from collections.abc import Callable, Iterable, Mapping
from typing import Any

# DynamoDB's limit per BatchGetItem call.
MAX_KEYS_PER_CALL = 100
# Calls for one chunk before giving up: throttling that outlasts this much
# backoff (about 3 s in all) is an outage, reported as an error, never as
# "not favorited" or "no favorites".
MAX_ATTEMPTS = 8
BASE_DELAY_SECONDS = 0.025
MAX_DELAY_SECONDS = 1.0

Key = dict[str, dict[str, str]]
Item = dict[str, Any]
Send = Callable[[dict[str, Any]], Mapping[str, Any]]


class BatchReadIncomplete(RuntimeError):
    """Some keys stayed unprocessed after every retry."""


def backoff(attempt: int, rng: random.Random) -> float:
    """Full jitter: uniform in [0, min(cap, base * 2**attempt)]."""
    return rng.uniform(0, min(MAX_DELAY_SECONDS, BASE_DELAY_SECONDS * 2**attempt))


def _unique(keys: Iterable[Key]) -> list[Key]:
    # BatchGetItem refuses a request that names one key twice.
    seen: dict[tuple[tuple[str, str], ...], Key] = {}
    for key in keys:
        seen.setdefault(tuple(sorted((name, value["S"]) for name, value in key.items())), key)
    return list(seen.values())


def batch_get(
    send: Send,
    table: str,
    keys: Iterable[Key],
    *,
    projection: str,
    consistent: bool = False,
    sleep: Callable[[float], None] = time.sleep,
    rng: random.Random | None = None,
) -> list[Item]:
    """Every item among ``keys`` that exists (missing keys are simply absent).

    One call per 100 distinct keys while DynamoDB processes them all; keys it
    hands back unprocessed (throttling, the 16 MB response limit) are asked
    again after a jittered, growing pause, up to ``MAX_ATTEMPTS`` calls a chunk.
    """
    rng = rng or random.Random()
    unique = _unique(keys)
    items: list[Item] = []
    for start in range(0, len(unique), MAX_KEYS_PER_CALL):
        request: dict[str, Any] = {
            table: {
                "Keys": unique[start : start + MAX_KEYS_PER_CALL],
                "ProjectionExpression": projection,
                "ConsistentRead": consistent,
            }
        }
        for attempt in range(MAX_ATTEMPTS):
            if attempt:
                sleep(backoff(attempt - 1, rng))
            response = send({"RequestItems": request})
            items.extend(response.get("Responses", {}).get(table, []))
            request = {
                name: value
                for name, value in (response.get("UnprocessedKeys") or {}).items()
                if value.get("Keys")
            }
            if not request:
                break
        else:
            left = sum(len(value["Keys"]) for value in request.values())
            raise BatchReadIncomplete(
                f"BatchGetItem on {table}: {left} keys still unprocessed after {MAX_ATTEMPTS} calls"
            )
    return items
