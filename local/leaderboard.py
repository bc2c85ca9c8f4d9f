"""A live terminal table of topRestaurants: ALL_TIME, this MONTH and today side by side.

Reads the running stack's status file for the API address and the stream
worker's lag, and refreshes every ``--interval`` seconds (``--once``: one frame).
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path
from typing import Any

import requests
from rich.console import Console, Group
from rich.live import Live
from rich.table import Table
from rich.text import Text

from local import status

WINDOWS = (("ALL_TIME", "All time"), ("MONTH", "This month"), ("DAY", "Today"))
QUERY = (
    "query Board($first: Int!) {\n"
    + "".join(
        f"  {w}: topRestaurants(window: {w}, first: $first) {{ rank restaurantId favoriteCount }}\n"
        for w, _ in WINDOWS
    )
    + "}"
)


def fetch(api: str, first: int) -> dict[str, list[dict[str, Any]]]:
    response = requests.post(
        f"{api}/public/graphql",
        json={"query": QUERY, "variables": {"first": first}},
        timeout=5,
    )
    body = response.json()
    if "errors" in body:
        raise RuntimeError("; ".join(error["message"] for error in body["errors"]))
    return dict(body["data"])


def worker_line(stack: dict[str, Any], now: float) -> str:
    worker = stack.get("worker", {})
    last = worker.get("last_batch_at")
    since = f"{now - last:.1f}s ago" if last else "none yet"
    return (
        f"stream worker: lag {worker.get('lag_seconds', 0.0):.1f}s, "
        f"records {worker.get('records', 0)}, batches {worker.get('batches', 0)}, "
        f"redeliveries {worker.get('redeliveries', 0)}, errors {worker.get('errors', 0)}, "
        f"last batch {since}  |  {stack.get('backend', '?')} at {stack.get('dynamodb', '?')}"
    )


def render(board: dict[str, list[dict[str, Any]]], stack: dict[str, Any], now: float) -> Group:
    grid = Table.grid(padding=(0, 2))
    tables = []
    for window, title in WINDOWS:
        table = Table(title=title, title_style="bold")
        table.add_column("#", justify="right")
        table.add_column("restaurant")
        table.add_column("favorites", justify="right")
        for row in board.get(window, []):
            table.add_row(str(row["rank"]), row["restaurantId"], str(row["favoriteCount"]))
        tables.append(table)
    grid.add_row(*tables)
    return Group(grid, Text(worker_line(stack, now), style="dim"))


def frame(data_dir: Path, first: int) -> Group | Text:
    stack = status.read(data_dir)
    if stack is None:
        return Text(f"waiting for a running stack (no status in {data_dir}/)", style="yellow")
    try:
        board = fetch(stack["api"], first)
    except (requests.RequestException, RuntimeError, ValueError) as error:
        return Text(f"API not answering: {error}", style="red")
    return render(board, stack, time.time())


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data-dir", type=Path, default=Path(".data"), help="the stack's folder")
    parser.add_argument("--interval", type=float, default=1.5, help="seconds between refreshes")
    parser.add_argument("--top", type=int, default=10, help="rows per window")
    parser.add_argument("--once", action="store_true", help="print one frame and exit")
    args = parser.parse_args(argv)
    console = Console()
    if args.once:
        console.print(frame(args.data_dir, args.top))
        return 0
    try:
        with Live(frame(args.data_dir, args.top), console=console, screen=False) as live:
            while True:
                time.sleep(args.interval)
                live.update(frame(args.data_dir, args.top))
    except KeyboardInterrupt:
        pass
    return 0


if __name__ == "__main__":
    sys.exit(main())
