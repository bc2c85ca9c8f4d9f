"""Favorite / unfavorite traffic through the real GraphQL endpoint of a running stack.

Each simulated user sends its own unsigned token (``local/tokens.py``); which
restaurant it picks follows a Zipf popularity, so a few restaurants lead the
ranking. Optionally writes back-dated favorites straight to the table first
(the API only ever writes "now"), so the MONTH and DAY windows have history.

    .venv/bin/python -m local.simulate --users 200 --restaurants 50 --rate 20 --duration 60
"""

from __future__ import annotations

import argparse
import functools
import random
import sys
import time
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import boto3
import requests
from rich.progress import BarColumn, Progress, TextColumn, TimeRemainingColumn

from chalicelib.favorites import FavoritesStore
from local import status
from local.tokens import token

FAVORITE = "mutation F($id: ID!) { favorite(restaurantId: $id) { changed } }"
UNFAVORITE = "mutation U($id: ID!) { unfavorite(restaurantId: $id) { changed } }"


@dataclass
class Summary:
    sent: int = 0
    changed: int = 0
    errors: int = 0
    backdated: int = 0

    def __str__(self) -> str:
        return (
            f"sent {self.sent}, changed {self.changed}, unchanged "
            f"{self.sent - self.changed - self.errors}, errors {self.errors}, "
            f"back-dated {self.backdated}"
        )


def zipf_weights(count: int, exponent: float) -> list[float]:
    """Popularity of the restaurant at each rank: 1 / rank**exponent."""
    return [1.0 / (rank**exponent) for rank in range(1, count + 1)]


def names(prefix: str, count: int) -> list[str]:
    width = len(str(count))
    return [f"{prefix}{index:0{width}d}" for index in range(1, count + 1)]


def _fixed(moment: datetime) -> datetime:
    return moment


def backdate(
    endpoint: str,
    table: str,
    *,
    users: list[str],
    restaurants: list[str],
    weights: list[float],
    count: int,
    days: int,
    rng: random.Random,
    now: datetime,
) -> int:
    """Write ``count`` favorites spread over the last ``days`` days; returns how many were new."""
    client = boto3.client(
        "dynamodb",
        endpoint_url=endpoint,
        region_name="us-east-1",
        aws_access_key_id="local",  # any credentials do for a local endpoint
        aws_secret_access_key="local",
    )
    written = 0
    for _ in range(count):
        moment = now - timedelta(seconds=rng.uniform(0, days * 86400))
        store = FavoritesStore(client, table, clock=functools.partial(_fixed, moment))
        restaurant = rng.choices(restaurants, weights)[0]
        written += store.add(rng.choice(users), restaurant).changed
    return written


def simulate(
    api: str,
    *,
    users: list[str],
    restaurants: list[str],
    weights: list[float],
    unfavorite_share: float,
    rate: float,
    duration: float,
    rng: random.Random,
    progress: Progress | None = None,
) -> Summary:
    """Send requests at ``rate`` per second for ``duration`` seconds."""
    summary = Summary()
    total = max(1, int(rate * duration))
    task = progress.add_task("requests", total=total) if progress is not None else None
    session = requests.Session()
    start = time.monotonic()
    for index in range(total):
        # Paced from the start, not per request: a slow answer is made up for after.
        delay = start + index / rate - time.monotonic()
        if delay > 0:
            time.sleep(delay)
        user = rng.choice(users)
        restaurant = rng.choices(restaurants, weights)[0]
        unfavorite = rng.random() < unfavorite_share
        query = UNFAVORITE if unfavorite else FAVORITE
        summary.sent += 1
        try:
            response = session.post(
                f"{api}/graphql",
                json={"query": query, "variables": {"id": restaurant}},
                headers={"Authorization": token(user)},
                timeout=10,
            )
            body = response.json()
            if response.status_code != 200 or "errors" in body:
                summary.errors += 1
            elif body["data"]["unfavorite" if unfavorite else "favorite"]["changed"]:
                summary.changed += 1
        except (requests.RequestException, ValueError):
            summary.errors += 1
        if progress is not None and task is not None:
            progress.update(task, advance=1, description=f"{summary}")
    return summary


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data-dir", type=Path, default=Path(".data"), help="the stack's folder")
    parser.add_argument("--users", type=int, default=100)
    parser.add_argument("--restaurants", type=int, default=30)
    parser.add_argument("--prefix", default="restaurant-", help="restaurant id prefix")
    parser.add_argument("--zipf", type=float, default=1.1, help="popularity exponent")
    parser.add_argument("--unfavorite-share", type=float, default=0.3, help="0..1")
    parser.add_argument("--rate", type=float, default=10.0, help="requests per second")
    parser.add_argument("--duration", type=float, default=30.0, help="seconds")
    parser.add_argument("--backdate", type=int, default=0, help="back-dated favorites to write")
    parser.add_argument("--backdate-days", type=int, default=90, help="spread over this many days")
    parser.add_argument("--seed", type=int, default=None)
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    stack = status.read(args.data_dir)
    if stack is None:
        print(f"no running stack found in {args.data_dir}/: start it with 'make run'")
        return 1
    rng = random.Random(args.seed)
    users = names("sim-user-", args.users)
    restaurants = names(args.prefix, args.restaurants)
    weights = zipf_weights(len(restaurants), args.zipf)
    summary = Summary()
    if args.backdate:
        summary.backdated = backdate(
            stack["dynamodb"],
            stack["tables"]["favorites"],
            users=users,
            restaurants=restaurants,
            weights=weights,
            count=args.backdate,
            days=args.backdate_days,
            rng=rng,
            now=datetime.now(UTC),
        )
        print(f"back-dated favorites written: {summary.backdated}")
    columns = (TextColumn("{task.description}"), BarColumn(), TimeRemainingColumn())
    with Progress(*columns) as progress:
        sent = simulate(
            stack["api"],
            users=users,
            restaurants=restaurants,
            weights=weights,
            unfavorite_share=args.unfavorite_share,
            rate=args.rate,
            duration=args.duration,
            rng=rng,
            progress=progress,
        )
    sent.backdated = summary.backdated
    print(f"done: {sent}")
    return 1 if sent.errors else 0


if __name__ == "__main__":
    sys.exit(main())
