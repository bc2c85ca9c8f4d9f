"""A favorite names the trace that wrote it, and the batch that counts it links back.

Both backends, end to end as Lambda runs them: test_tracing_backends.py. Here the
parts: the item's attribute, the stream record's reading of it, and the links
the stream handler makes (one per favorite counted, with its lag).
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from chalicelib.favorites import TRACE_ATTRIBUTE, FavoritesStore
from chalicelib.stream.handler import link_counted
from chalicelib.stream.records import FavoriteEvent, parse_record
from tests.support import FAVORITES_TABLE, stream_record

HEADER = "Root=1-69300000-0000000000000000000000ab;Parent=00000000000000ab;Sampled=1"
KEY = {"restaurant_id": {"S": "pizza"}, "user_id": {"S": "u1"}}


def test_a_favorite_records_the_trace_that_wrote_it(dynamodb):
    store = FavoritesStore(dynamodb, FAVORITES_TABLE, trace_header=lambda: HEADER)
    assert store.add("u1", "pizza").changed is True
    item = dynamodb.get_item(TableName=FAVORITES_TABLE, Key=KEY)["Item"]
    assert item[TRACE_ATTRIBUTE] == {"S": HEADER}


def test_with_tracing_off_a_favorite_carries_no_trace(services, dynamodb):
    assert services.tracer.trace_header() is None  # outside Lambda
    assert FavoritesStore(dynamodb, FAVORITES_TABLE).add("u1", "pizza").changed is True
    item = dynamodb.get_item(TableName=FAVORITES_TABLE, Key=KEY)["Item"]
    assert set(item) == {"restaurant_id", "user_id", "created_at"}


def test_an_insert_carries_its_favorites_trace_and_a_remove_none():
    created = datetime(2026, 11, 23, 10, 0, tzinfo=UTC)
    image = {
        "restaurant_id": {"S": "pizza"},
        "user_id": {"S": "u1"},
        "created_at": {"S": "2026-11-23T10:00:00.000Z"},
        TRACE_ATTRIBUTE: {"S": HEADER},
    }
    insert = parse_record(stream_record("INSERT", "pizza", "u1", new_image=image), None)
    assert isinstance(insert, FavoriteEvent)
    assert insert.trace_header == HEADER
    remove = parse_record(stream_record("REMOVE", "pizza", "u1", old_image=image), None)
    assert isinstance(remove, FavoriteEvent)
    assert remove.trace_header is None  # the unfavorite's request is not the favorite's
    untraced = parse_record(stream_record("INSERT", "pizza", "u1", created), None)
    assert isinstance(untraced, FavoriteEvent)
    assert untraced.trace_header is None


class LinkedSpan:
    def __init__(self) -> None:
        self.links: list[tuple[str, dict[str, Any]]] = []

    def annotate(self, key: str, value: Any) -> None:
        raise AssertionError("links are counted by the tracing backend")

    def link(self, trace_header: str, **attributes: Any) -> None:
        self.links.append((trace_header, attributes))


def event(restaurant: str, delta: int, header: str | None, created: float) -> FavoriteEvent:
    return FavoriteEvent(
        event_id=f"e-{restaurant}",
        sequence_number="1",
        restaurant_id=restaurant,
        user_id="u1",
        created_at=datetime.fromtimestamp(created, UTC),
        delta=delta,
        trace_header=header,
    )


def test_the_batch_links_each_traced_favorite_it_counted_with_its_lag():
    now = 1_795_000_100.0
    counted = [
        event("a", 1, HEADER, now - 2.5),
        event("b", 1, None, now - 1),  # written with tracing off
        event("c", -1, HEADER, now - 9),  # an unfavorite: nothing to follow
        event("d", 1, HEADER.replace("ab;", "cd;"), now - 0.25),
    ]
    span = LinkedSpan()
    link_counted(span, counted, now)
    assert span.links == [
        (HEADER, {"lag_seconds": 2.5, "restaurant_id": "a"}),
        (HEADER.replace("ab;", "cd;"), {"lag_seconds": 0.25, "restaurant_id": "d"}),
    ]
