"""Section 7: what a home screen read costs, hearts before and after the viewer's set.

A signed-in home screen shows the ranking with the viewer's hearts. Before, every
request read the hearts of the listed ids with a consistent BatchGetItem (one read
unit per id); now it reads the viewer's whole set with one Query of ``by_user``
when the viewer has at most ``VIEWER_SET_LIMIT`` favorites. A viewer past the limit
still takes the BatchGetItem path, so such a viewer is the "before" of the whole
request; the hearts' reads alone are measured on the store's two calls as well.

The signed-out home screen is then read over HTTP through the local cache
(``bench.edge``): origin requests per 1,000 public reads, and a read through the
cache against one straight to the origin.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from functools import partial
from typing import TYPE_CHECKING, Any

from bench.dynamo import COUNTS_TABLE, FAVORITES_TABLE, batch_put, fresh_tables
from bench.edge import edge_reads
from bench.section import ROOT, Section, x, zipf_count_items
from bench.stats import figure, timed
from devtools.calls import CallCounter, counting
from local.tokens import token

if TYPE_CHECKING:
    from chalice.test import Client
    from mypy_boto3_dynamodb import DynamoDBClient

ROWS = (20, 100)
RESTAURANTS = 1000
FAVORITES_SHOWN = 10  # the home screen's own list of the viewer's favorites
LIGHT_VIEWER_FAVORITES = 25  # a typical viewer: within the 10-40 the set path is for
# The signed-in home screen, as the clients ask it: the ranking with hearts, and the
# viewer's newest favorites with theirs.
SIGNED_IN = """
query Home($first: Int!, $favorites: Int!) {
  topRestaurants(first: $first) { edges { rank favoriteCount node { id viewerHasFavorited } } }
  viewer { favorites(first: $favorites) { edges { node { id viewerHasFavorited } } } }
}
"""
SIGNED_OUT = """
query Ranking($first: Int!) {
  topRestaurants(first: $first) { edges { rank favoriteCount node { id } } }
}
"""


@dataclass
class BatchReads:
    """BatchGetItem's read units, which ``devtools.calls`` does not ask for (its
    ConsumedCapacity is a list, one entry per table), and the keys it found none for:
    DynamoDB charges a key with no item the minimum read (1 unit consistent, 0.5
    eventually); DynamoDB Local charges it nothing."""

    read_units: float = 0.0
    calls: int = 0
    missing_units: float = 0.0
    # The call in flight: (keys asked, the minimum a key costs). One table per call here.
    _asked: tuple[int, float] = (0, 0.0)

    def _before(self, params: dict[str, Any], model: Any, **_: Any) -> None:
        if model.name == "BatchGetItem":
            params["ReturnConsumedCapacity"] = "TOTAL"
            for request in params.get("RequestItems", {}).values():
                unit = 1.0 if request.get("ConsistentRead") else 0.5
                self._asked = (len(request.get("Keys", ())), unit)

    def _after(self, parsed: dict[str, Any], model: Any, **_: Any) -> None:
        if model.name != "BatchGetItem":
            return
        self.calls += 1
        for consumed in parsed.get("ConsumedCapacity", []):
            self.read_units += float(consumed.get("CapacityUnits", 0.0))
        found = sum(len(items) for items in parsed.get("Responses", {}).values())
        unprocessed = parsed.get("UnprocessedKeys") or {}
        left = sum(len(request.get("Keys", ())) for request in unprocessed.values())
        (asked, unit), self._asked = self._asked, (0, 0.0)
        self.missing_units += unit * max(0, asked - left - found)


@contextmanager
def read_units(client: DynamoDBClient) -> Iterator[tuple[CallCounter, BatchReads]]:
    """Every read unit of the block: Query, Scan and GetItem, and BatchGetItem."""
    batch = BatchReads()
    events = client.meta.events
    events.register("before-parameter-build.dynamodb", batch._before)
    events.register("after-call.dynamodb", batch._after)
    try:
        with counting(client, read_units=True) as counter:
            yield counter, batch
    finally:
        events.unregister("before-parameter-build.dynamodb", batch._before)
        events.unregister("after-call.dynamodb", batch._after)


def _favorites(user: str, restaurants: list[str]) -> list[dict[str, Any]]:
    from chalicelib.windows import format_timestamp  # noqa: PLC0415

    start = datetime(2026, 11, 1, tzinfo=UTC)
    return [
        {
            "restaurant_id": {"S": restaurant},
            "user_id": {"S": user},
            "created_at": {"S": format_timestamp(start + timedelta(minutes=i))},
        }
        for i, restaurant in enumerate(restaurants)
    ]


@dataclass(frozen=True)
class Case:
    label: str
    route: str
    user: str | None
    rows: int
    favorites: frozenset[str] = frozenset()

    def request(self, test: Client) -> dict[str, Any]:
        if self.user is None:
            body = {"query": SIGNED_OUT, "variables": {"first": self.rows}}
            headers = {"Content-Type": "application/json"}
        else:
            body = {
                "query": SIGNED_IN,
                "variables": {"first": self.rows, "favorites": FAVORITES_SHOWN},
            }
            headers = {"Content-Type": "application/json", "Authorization": token(self.user)}
        response = test.http.post(self.route, headers=headers, body=json.dumps(body))
        answer: dict[str, Any] = json.loads(response.body)
        assert "errors" not in answer, answer
        edges = answer["data"]["topRestaurants"]["edges"]
        assert len(edges) == self.rows
        if self.user is not None:  # a figure of wrong hearts would measure nothing
            shown = {edge["node"]["id"] for edge in edges}
            hearts = {edge["node"]["id"] for edge in edges if edge["node"]["viewerHasFavorited"]}
            assert hearts == shown & self.favorites, (self.label, hearts)
        return answer


def reads(client: DynamoDBClient, runs: int, edge_samples: int) -> Section:
    """The home screens in process, then the signed-out one through the local cache."""
    section = home_screens(client, runs)
    edge_reads(client, section, SIGNED_OUT, {"first": ROWS[0]}, edge_samples)
    return section


def home_screens(client: DynamoDBClient, runs: int) -> Section:
    from chalice.test import Client  # noqa: PLC0415

    from app import app  # noqa: PLC0415
    from chalicelib.favorites import VIEWER_SET_LIMIT, FavoritesStore  # noqa: PLC0415

    section = Section(
        "7. Home screen reads: hearts from the viewer's set, the signed-out one through the cache"
    )
    fresh_tables(client)
    batch_put(client, COUNTS_TABLE, zipf_count_items(range(RESTAURANTS), "ALL", 1))
    ids = [f"r{index:06d}" for index in range(RESTAURANTS)]
    # Spread over the ranking, so some of every page's rows carry a heart.
    light = ids[: LIGHT_VIEWER_FAVORITES * 4 : 4]
    heavy = ids[: (VIEWER_SET_LIMIT + 1) * 3 : 3]
    batch_put(client, FAVORITES_TABLE, _favorites("set-viewer", light))
    batch_put(client, FAVORITES_TABLE, _favorites("many-viewer", heavy))
    cases = [
        case
        for rows in ROWS
        for case in (
            Case(
                f"before: {len(heavy)} favorites, BatchGetItem",
                "/graphql",
                "many-viewer",
                rows,
                frozenset(heavy),
            ),
            Case(
                f"after: {len(light)} favorites, the set",
                "/graphql",
                "set-viewer",
                rows,
                frozenset(light),
            ),
            Case("signed out", "/public/graphql", None, rows),
        )
    ]
    section.lines.append(
        f"In process through Chalice's test client, DynamoDB Local, {RESTAURANTS:,} "
        f"restaurants: the signed-in home screen (`topRestaurants(first: N)` with "
        f"`viewerHasFavorited`, and the viewer's {FAVORITES_SHOWN} newest favorites with "
        "theirs) and the signed-out one (the ranking alone, on `/public/graphql`); "
        f"{runs} requests per case, the cases taking turns. Read units are DynamoDB "
        "Local's ConsumedCapacity, BatchGetItem's included. Before: a viewer past "
        f"VIEWER_SET_LIMIT ({VIEWER_SET_LIMIT}) takes the BatchGetItem path that every "
        "signed-in request took before (plus the one capped Query that finds the set too "
        f"large); after: a viewer with {len(light)} favorites."
    )
    section.lines.append("")
    section.header(
        "rows",
        "viewer",
        "RRU / request (Local)",
        "RRU / request (DynamoDB)",
        "DynamoDB calls / request",
        "latency",
    )
    units: dict[Case, float] = {}
    billed: dict[Case, float] = {}
    calls: dict[Case, str] = {}
    latencies: dict[Case, list[float]] = {case: [] for case in cases}
    with Client(app, stage_name="local", project_dir=str(ROOT)) as test:
        for case in cases:
            case.request(test)  # warm the path: cold start is section 1
            with read_units(client) as (counter, batch):
                case.request(test)
            units[case] = counter.read_units + batch.read_units
            billed[case] = units[case] + batch.missing_units
            calls[case] = ", ".join(
                f"{name} x{count}" for name, count in sorted(counter.calls.items())
            )
        for _ in range(runs):
            for case in cases:
                latencies[case].append(timed(partial(case.request, test)) * 1000)
    for case in cases:
        latency = figure(latencies[case], "ms")
        section.row(
            case.rows,
            case.label,
            f"{units[case]:.1f}",
            f"{billed[case]:.1f}",
            calls[case],
            latency.text(2),
        )
        kind = case.label.split(":")[0].replace(" ", "_")
        section.numbers[f"home_{kind}_rru_{case.rows}"] = billed[case]
        section.numbers[f"home_{kind}_ms_{case.rows}"] = latency.median

    # The hearts alone: the store's two calls, as the resolvers make them.
    store = FavoritesStore(client, FAVORITES_TABLE)
    section.lines.append("")
    section.header("rows", "hearts read by", "RRU (Local)", "RRU (DynamoDB)", "before / after")
    for rows in ROWS:
        with read_units(client) as (_, by_ids):
            store.favorited_among("many-viewer", ids[:rows])
        with read_units(client) as (by_set, _):
            assert store.favorites_of("set-viewer") == frozenset(light)
        before = by_ids.read_units + by_ids.missing_units
        section.row(
            rows,
            "BatchGetItem of the listed ids (consistent)",
            f"{by_ids.read_units:.1f}",
            f"{before:.1f}",
            "",
        )
        section.row(
            rows,
            f"one Query of by_user ({len(light)} favorites)",
            f"{by_set.read_units:.1f}",
            f"{by_set.read_units:.1f}",
            x(before / by_set.read_units) if by_set.read_units else "",
        )
        section.numbers[f"hearts_before_rru_{rows}"] = before
        section.numbers[f"hearts_after_rru_{rows}"] = by_set.read_units
    with read_units(client) as (capped, _):
        assert store.favorites_of("many-viewer") is None
    for rows in ROWS:
        # What a request cost before the set existed: the "before" row without the capped Query.
        section.numbers[f"home_ids_rru_{rows}"] = (
            section.numbers[f"home_before_rru_{rows}"] - capped.read_units
        )
    section.lines.append("")
    section.lines.append(
        f"Of the before rows, {capped.read_units:.1f} RRU is the capped Query that finds "
        f"{len(heavy)} favorites too many for the set; before the set existed a signed-in "
        "request cost that much less: "
        + ", ".join(
            f"{section.numbers[f'home_ids_rru_{rows}']:.1f} RRU at {rows} rows" for rows in ROWS
        )
        + "."
    )
    section.lines.append(
        "RRU (DynamoDB) adds what DynamoDB Local leaves out: a key BatchGetItem finds no "
        "item for still costs the minimum read there (1 unit consistent), so the hearts of "
        "N listed ids cost N units before, found or not. Latency: median (min..max) of the "
        "requests in turn; a Query of the viewer's set replaces one to two BatchGetItem "
        "round trips."
    )
    return section
