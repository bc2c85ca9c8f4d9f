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
        f"  {w}: topRestaurants(window: {w}, first: $first)"
        " { edges { rank favoriteCount node { id } } }\n"
        for w, _ in WINDOWS
    )
    + "}"
)


def fetch(api: str, first: int) -> dict[str, list[dict[str, Any]]]:
    """Each window's ranking edges (``rank``, ``favoriteCount``, ``node.id``), highest first."""
    response = requests.post(
        f"{api}/public/graphql",
        json={"query": QUERY, "variables": {"first": first}},
        timeout=5,
    )
    body = response.json()
    if "errors" in body:
        raise RuntimeError("; ".join(error["message"] for error in body["errors"]))
    return {window: list(body["data"][window]["edges"]) for window, _ in WINDOWS}


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


# Past these the board warns that its rankings may be behind.
LAG_WARNING_SECONDS = 10.0
SILENCE_WARNING_SECONDS = 5.0


def warnings(stack: dict[str, Any], now: float) -> list[str]:
    """What makes the rankings untrustworthy right now: a worker down, silent or lagging,
    another part restarting, or a status file the stack stopped rewriting."""
    found: list[str] = []
    written = stack.get("updated_at")
    if isinstance(written, int | float) and now - written > SILENCE_WARNING_SECONDS:
        found.append(f"the stack has not updated its status for {now - written:.0f}s")
    worker = stack.get("worker", {})
    state = worker.get("state", "up")
    error = worker.get("failing")
    if state != "up":
        why = worker.get("last_error")
        found.append(
            f"stream worker {state.upper()}: new favorites are not being counted"
            + (f" ({why})" if why else "")
        )
    else:
        beat = worker.get("heartbeat_at")
        if isinstance(beat, int | float) and now - beat > SILENCE_WARNING_SECONDS:
            found.append(f"stream worker silent for {now - beat:.0f}s: it may be stuck")
        lag = float(worker.get("lag_seconds") or 0.0)
        if lag > LAG_WARNING_SECONDS:
            found.append(f"stream worker lagging: {lag:.1f}s behind the writes")
        elif error:
            found.append(f"stream worker failing: {error}")
    for name, part in stack.get("parts", {}).items():
        if name != "worker" and part.get("state", "up") != "up":
            found.append(f"{part.get('title', name)} {part['state'].upper()}")
    return found


def banner(stack: dict[str, Any], now: float) -> Text | None:
    found = warnings(stack, now)
    if not found:
        return None
    return Text("\n".join(f"!! {line}" for line in found), style="bold white on red")


def render(board: dict[str, list[dict[str, Any]]], stack: dict[str, Any], now: float) -> Group:
    grid = Table.grid(padding=(0, 2))
    tables = []
    for window, title in WINDOWS:
        table = Table(title=title, title_style="bold")
        table.add_column("#", justify="right")
        table.add_column("restaurant")
        table.add_column("favorites", justify="right")
        for row in board.get(window, []):
            table.add_row(str(row["rank"]), row["node"]["id"], str(row["favoriteCount"]))
        tables.append(table)
    grid.add_row(*tables)
    warning = banner(stack, now)
    footer = Text(worker_line(stack, now), style="dim")
    return Group(warning, grid, footer) if warning is not None else Group(grid, footer)


def frame(data_dir: Path, first: int) -> Group | Text:
    stack = status.read(data_dir)
    if stack is None:
        return Text(f"waiting for a running stack (no status in {data_dir}/)", style="yellow")
    try:
        board = fetch(stack["api"], first)
    except (requests.RequestException, RuntimeError, ValueError) as error:
        warning = banner(stack, time.time())
        message = Text(f"API not answering: {error}", style="red")
        return Group(warning, message) if warning is not None else message
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
