"""The stack watches its parts: SIGKILL each, the stack itself, a stuck worker, a taken port."""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import sys
import threading
from http.server import BaseHTTPRequestHandler, HTTPServer
from pathlib import Path
from typing import Any

import psutil
import pytest
from rich.console import Console

from local import leaderboard, status
from local.cache import find_nginx
from local.dynamodb_local import free_port
from local.stack import http_ready
from tests.stack.conftest import (
    ROOT,
    WATCHED_STALL_SECONDS,
    Stack,
    alive,
    current,
    descendants,
    post,
    require_java,
    run_reconcile,
    stack_environment,
    wait_for,
    worker_passes,
)
from tests.support import skip_unless_ci

pytestmark = pytest.mark.integration

FAVORITE = 'mutation { favorite(restaurantId: "%s") { changed } }'


def counts(api: str, prefix: str) -> dict[str, int]:
    rows = post(
        f"{api}/public/graphql",
        "{ topRestaurants(first: 100) { edges { favoriteCount node { id } } } }",
    )
    return {
        r["node"]["id"]: r["favoriteCount"]
        for r in rows["data"]["topRestaurants"]["edges"]
        if r["node"]["id"].startswith(prefix)
    }


def start_refused(data_dir: Path, **taken: int) -> subprocess.CompletedProcess[str]:
    """A stack started on ``data_dir`` with free ports, or the given ``--option`` ports,
    expected to refuse at once (the timeout only guards against a start)."""
    ports = {"--port": free_port(), "--dynamodb-port": free_port(), "--web-port": free_port()}
    ports["--cache-port"] = free_port()
    ports.update(taken)
    command = [sys.executable, "-m", "local.stack", "--data-dir", str(data_dir)]
    for name, port in ports.items():
        command += [name, str(port)]
    return subprocess.run(
        command,
        cwd=ROOT,
        env=stack_environment(),
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def part(stack: Stack, name: str) -> dict[str, Any]:
    return dict(current(stack)["parts"][name])


def died_of(entry: dict[str, Any]) -> str:
    # The worker's last_error is what it reports failing now; last_exit why it last died.
    return str(entry.get("last_exit", entry["last_error"]))


def test_each_part_killed_with_sigkill_comes_back_counted_and_nothing_is_lost(watched: Stack):
    api = watched.api
    assert post(f"{api}/graphql", FAVORITE % "sup-before", "ann")["data"]["favorite"]["changed"]
    wait_for(lambda: counts(api, "sup-") == {"sup-before": 1}, what="the first count")

    for name in ("dynamodb", "worker", "api", "web"):
        before = part(watched, name)
        assert before["state"] == "up"
        os.kill(before["pid"], signal.SIGKILL)

        def counted(name: str = name, restarts: int = before["restarts"]) -> dict[str, Any] | None:
            now = part(watched, name)
            return now if now["restarts"] == restarts + 1 else None

        # A dead part shows within seconds, with why it died.
        # (10 s: the status is written every tick, but CI's two cores are busy.)
        dead = wait_for(counted, timeout=10, what=f"{name}'s death in the status file")
        assert died_of(dead) == "killed by SIGKILL"
        if name == "dynamodb":
            # The outage itself, as the status file tells it while DynamoDB Local restarts.
            assert dead["state"] == "restarting"
            outage = current(watched)
            assert outage["state"] == "running"
            assert outage["parts"]["api"]["state"] == "up"

        def back(name: str = name) -> dict[str, Any] | None:
            now = part(watched, name)
            return now if now["state"] == "up" else None

        again = wait_for(back, timeout=90, what=f"{name} up again")
        assert again["pid"] != before["pid"]
        # Restarted by the stack, as its own child: no stray process took its place.
        assert again["pid"] in descendants(watched.process.pid)

    # Written while nothing is down any more: counted once; the earlier one not again
    # (DynamoDB Local kept its data folder, the worker resumed from its checkpoint).
    assert post(f"{api}/graphql", FAVORITE % "sup-after", "bob")["data"]["favorite"]["changed"]
    expected = {"sup-before": 1, "sup-after": 1}
    wait_for(lambda: counts(api, "sup-") == expected, what="the count after the restarts")
    worker_passes(watched.data_dir)  # several polls later: still counted once
    assert counts(api, "sup-") == expected


def test_the_api_runs_with_the_slow_client_bounds(watched: Stack):
    command = psutil.Process(part(watched, "api")["pid"]).cmdline()
    assert command[command.index("--client-timeout") + 1] == "10.0"
    assert command[command.index("--max-connections") + 1] == "64"


def board_text(stack: Stack) -> str:
    console = Console(record=True, width=200, file=open(os.devnull, "w"))  # noqa: SIM115
    console.print(leaderboard.frame(stack.data_dir, 5))
    return console.export_text()


def test_a_stuck_worker_shows_within_seconds_blocks_repair_and_is_restarted(watched: Stack):
    before = part(watched, "worker")
    os.kill(before["pid"], signal.SIGSTOP)
    try:
        # Its heartbeat stops: the status file says how long it has been silent.
        wait_for(
            lambda: (part(watched, "worker")["heartbeat_age_seconds"] or 0) > 2,
            timeout=5,
            what="a silent worker in the status file",
        )
        wait_for(
            lambda: (
                (part(watched, "worker")["heartbeat_age_seconds"] or 0)
                > leaderboard.SILENCE_WARNING_SECONDS + 0.5
            ),
            timeout=10,
            what="a worker silent past the board's warning",
        )
        assert "!! stream worker silent for" in board_text(watched)
        refused = run_reconcile(watched, "--repair")
        assert refused.returncode == 2, refused.stderr
        assert "refusing to repair the local stack in .data/" in refused.stderr
        assert "--ignore-lag" in refused.stderr
        forced = run_reconcile(watched, "--repair", "--ignore-lag")
        assert forced.returncode == 0, forced.stderr
    except BaseException:
        with contextlib.suppress(ProcessLookupError):
            os.kill(before["pid"], signal.SIGCONT)  # leave the shared stack working
        raise
    # Left stopped: the stack must notice the silence and restart it by itself.

    def restarted() -> dict[str, Any] | None:
        now = part(watched, "worker")
        return now if now["restarts"] == before["restarts"] + 1 else None

    dead = wait_for(restarted, timeout=WATCHED_STALL_SECONDS + 5, what="the stuck worker killed")
    assert dead["last_exit"].startswith("no heartbeat for")
    wait_for(lambda: part(watched, "worker")["state"] == "up", timeout=30, what="worker up again")
    assert "!!" not in board_text(watched)


def test_a_part_that_keeps_dying_stops_the_stack_naming_it_with_its_last_lines(tmp_path: Path):
    require_java()
    stack = Stack(tmp_path)
    started = descendants(stack.process.pid)
    killed: set[int] = set()
    for _ in range(3):

        def fresh() -> dict[str, Any] | None:
            entry = part(stack, "web")
            return entry if entry["state"] == "up" and entry["pid"] not in killed else None

        pid = wait_for(fresh, timeout=30, what="the demo page up")["pid"]
        os.kill(pid, signal.SIGKILL)
        killed.add(pid)
    assert stack.process.wait(timeout=60) == 1
    output = stack.output()
    assert "error: demo page (web) died 3 times within 60s" in output
    assert "killed by SIGKILL" in output
    assert "Last lines of its output" in output
    assert "  | demo page on http://127.0.0.1:" in output
    last = status.last(tmp_path)
    assert last is not None
    assert last["state"] == "failed"
    assert last["parts"]["web"]["state"] == "down"
    assert status.read(tmp_path) is None  # its pid is gone: nobody takes it for running
    wait_for(lambda: not any(alive(p) for p in started), timeout=10, what="every part stopped")


def test_kill_9_of_the_stack_takes_every_part_with_it_and_the_ports_are_free_again(tmp_path: Path):
    require_java()
    first = Stack(tmp_path)
    assert post(f"{first.api}/graphql", FAVORITE % "k9-diner", "ann")["data"]["favorite"]["changed"]
    wait_for(lambda: counts(first.api, "k9-") == {"k9-diner": 1}, what="count")
    assert len(descendants(first.process.pid)) >= 4  # DynamoDB Local, worker, API, page
    assert first.stop(signal.SIGKILL) == set()
    assert first.process.returncode == -signal.SIGKILL

    second = Stack(tmp_path, ports=first.ports)
    try:
        assert counts(second.api, "k9-") == {"k9-diner": 1}
    finally:
        assert second.stop() == set()


@pytest.mark.parametrize(
    ("option", "what"),
    [
        ("--port", "the API"),
        ("--dynamodb-port", "DynamoDB"),
        ("--web-port", "the demo page"),
        ("--cache-port", "the cache"),
    ],
)
def test_a_taken_port_is_refused_at_once_naming_the_port_and_its_holder(
    tmp_path: Path, option: str, what: str
):
    if option == "--cache-port" and find_nginx() is None:
        # Without nginx the stack has no cache and wants no port for it.
        skip_unless_ci("nginx is not installed (apt-get install nginx)", "nginx is required")
    with socket.socket() as holder:
        holder.bind(("127.0.0.1", 0))
        holder.listen()
        taken = holder.getsockname()[1]
        result = start_refused(tmp_path, **{option: taken})
    assert result.returncode == 1
    assert f"error: port {taken} ({what}) is already in use by pid {os.getpid()} (" in result.stderr
    assert option in result.stderr
    assert "Favorites service running" not in result.stdout
    assert not (tmp_path / "logs").exists()  # refused before starting anything


def test_a_second_stack_on_the_same_data_folder_is_refused(watched: Stack):
    pids = {name: entry["pid"] for name, entry in current(watched)["parts"].items()}
    result = start_refused(watched.data_dir)
    assert result.returncode == 1
    assert f"another stack (pid {watched.process.pid}) runs on" in result.stderr
    # The running one is untouched: the same processes, still running.
    after = current(watched)
    assert after["state"] == "running"
    assert {name: entry["pid"] for name, entry in after["parts"].items()} == pids


def test_readiness_is_only_taken_from_the_stacks_own_process():
    class Answer(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            self.send_response(200)
            self.end_headers()

        def log_message(self, *_: object) -> None:
            pass

    impostor = HTTPServer(("127.0.0.1", 0), Answer)
    port = impostor.server_address[1]
    threading.Thread(target=impostor.serve_forever, daemon=True).start()
    child = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    try:
        ready = http_ready(port, f"http://127.0.0.1:{port}/")
        assert ready(os.getpid())  # the process that listens, and answers
        assert not ready(child.pid)  # the port answers, but not from this process
    finally:
        child.kill()
        child.wait()
        impostor.shutdown()
        impostor.server_close()
