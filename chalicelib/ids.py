"""Identifier rules shared by the API and the stream handler."""

from __future__ import annotations

import re

from chalicelib.errors import InvalidInput

# Most ids one request may look up at once (one BatchGetItem's worth).
MAX_IDS = 100
ID_PATTERN = re.compile(r"[A-Za-z0-9][A-Za-z0-9._:-]{0,127}")


def is_valid_id(value: object) -> bool:
    return isinstance(value, str) and ID_PATTERN.fullmatch(value) is not None


def require_restaurant_id(value: str, argument: str = "restaurantId") -> str:
    if not is_valid_id(value):
        raise InvalidInput(
            f"{argument} must be 1 to 128 characters of letters, digits, '.', '_', ':' or '-',"
            " starting with a letter or digit"
        )
    return value


def require_restaurant_ids(values: list[str], argument: str = "ids") -> list[str]:
    if not 1 <= len(values) <= MAX_IDS:
        raise InvalidInput(f"{argument} must hold 1 to {MAX_IDS} ids, got {len(values)}")
    return [
        require_restaurant_id(value, f"{argument}[{index}]") for index, value in enumerate(values)
    ]
