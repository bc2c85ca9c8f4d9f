"""What every section shares: the ``Section`` it returns, and the queries and
seeded counts several sections measure with."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from bench.dynamo import FAVORITES_TABLE

ROOT = Path(__file__).resolve().parents[1]
STREAM_ARN = f"arn:aws:dynamodb:us-east-1:000000000000:table/{FAVORITES_TABLE}/stream/bench"
TOP_QUERY = "{ topRestaurants(first: 10) { edges { rank favoriteCount node { id } } } }"
FAVORITE_MUTATION = "mutation F($id: ID!) { favorite(restaurantId: $id) { changed } }"


@dataclass
class Section:
    title: str
    lines: list[str] = field(default_factory=list)
    numbers: dict[str, float] = field(default_factory=dict)

    def row(self, *cells: object) -> None:
        self.lines.append("| " + " | ".join(str(cell) for cell in cells) + " |")

    def header(self, *cells: str) -> None:
        self.row(*cells)
        self.row(*("---" for _ in cells))


def x(value: float) -> str:
    return f"{value:.2f}x"


def zipf_count_items(restaurants: range, bucket: str, shards: int) -> list[dict[str, Any]]:
    """Count items (``devtools.items.count_items``) of restaurants ``r000000``...,
    with Zipf-like counts."""
    from devtools.items import count_items  # noqa: PLC0415

    # Popularity falls off like Zipf: a few clear leaders, a long tail of ties.
    counts = {f"r{index:06d}": max(1, int(100_000 / (index + 1) ** 1.1)) for index in restaurants}
    return count_items(bucket, counts, shards)
