"""Stack tier: the whole local stack (``python -m local.stack``) on free ports.

The stack runs as its own process, exactly as ``make run`` starts it, with a
temporary data folder. With Java it runs DynamoDB Local; these tests skip only
where Java is missing, never under CI=true.
"""

from __future__ import annotations

import ipaddress
import json
import os
import signal
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import psutil
import pytest

from local import status
from local.dynamodb_local import free_port, java
from local.processes import wait_until
from local.tokens import token
from tests.support import skip_unless_ci

ROOT = Path(__file__).resolve().parents[2]
# What tests/conftest.py sets for the in-process tiers; the stack brings its own stage.
_TEST_ONLY = (
    "STAGE",
    "FAVORITES_TABLE",
    "FAVORITE_COUNTS_TABLE",
    "FAVORITES_STREAM_ARN",
    "DYNAMODB_ENDPOINT_URL",
)


def stack_environment() -> dict[str, str]:
    """This process's environment without what only the in-process tiers set."""
    return {k: v for k, v in os.environ.items() if k not in _TEST_ONLY}


def descendants(pid: int) -> set[int]:
    """Every live process below ``pid`` (children, grandchildren, ...)."""
    try:
        return {
            child.pid for child in psutil.Process(pid).children(recursive=True) if alive(child.pid)
        }
    except psutil.NoSuchProcess:
        return set()


def listen_addresses(port: int) -> set[str]:
    """The addresses TCP sockets listen on at ``port``; IPv4-mapped IPv6 ones come back as IPv4."""
    found: set[str] = set()
    for connection in psutil.net_connections(kind="tcp"):
        laddr = connection.laddr
        if connection.status != psutil.CONN_LISTEN or not laddr or laddr.port != port:
            continue
        ip = ipaddress.ip_address(laddr.ip.split("%")[0])
        if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
            ip = ip.ipv4_mapped
        found.add(str(ip))
    return found


def post(url: str, query: str, user: str | None = None) -> dict[str, Any]:
    """One GraphQL request over HTTP; ``user`` signs it with a local token."""
    headers = {"Content-Type": "application/json"}
    if user is not None:
        headers["Authorization"] = token(user)
    request = urllib.request.Request(
        url, data=json.dumps({"query": query}).encode(), headers=headers, method="POST"
    )
    with urllib.request.urlopen(request, timeout=10) as response:
        return dict(json.loads(response.read()))


def alive(pid: int) -> bool:
    try:
        return psutil.Process(pid).status() != psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return False


class Stack:
    """One ``python -m local.stack`` process and what it reports in its status file."""

    def __init__(
        self,
        tmp: Path,
        *,
        backend: str = "auto",
        path: str | None = None,
        options: tuple[str, ...] = (),
        ports: tuple[int, int, int] | None = None,
    ) -> None:
        tmp.mkdir(parents=True, exist_ok=True)
        self.data_dir = tmp
        self.log = tmp / "stack.log"
        env = stack_environment()
        if path is not None:
            env["PATH"] = path
        api, dynamodb, web = ports or (free_port(), free_port(), free_port())
        self.ports = (api, dynamodb, web)
        args = [sys.executable, "-m", "local.stack", "--data-dir", str(tmp)]
        args += ["--port", str(api), "--dynamodb-port", str(dynamodb)]
        args += ["--web-port", str(web), "--backend", backend, *options]
        # The HTTP cache's port too: never the default 8003 another stack may hold.
        args += ["--cache-port", str(free_port())]
        with self.log.open("ab") as log:
            self.process = subprocess.Popen(args, cwd=ROOT, env=env, stdout=log, stderr=log)
        try:
            self.status: dict[str, Any] = status.wait(tmp, timeout=90)
        except TimeoutError:
            self.stop()
            raise AssertionError(f"stack did not start:\n{self.output()}") from None

    @property
    def api(self) -> str:
        return str(self.status["api"])

    @property
    def web(self) -> str:
        return str(self.status["web"])

    def output(self) -> str:
        return self.log.read_text(errors="replace")

    def stop(self, how: signal.Signals = signal.SIGTERM) -> set[int]:
        """Signal the stack; return the processes it had started that are still alive."""
        started = descendants(self.process.pid)
        if self.process.poll() is None:
            self.process.send_signal(how)
            try:
                self.process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        deadline = time.monotonic() + 5
        while time.monotonic() < deadline and any(alive(p) for p in started):
            time.sleep(0.1)
        return {pid for pid in started if alive(pid)}


def require_java() -> None:
    if java() is None:
        skip_unless_ci("Java is not installed: DynamoDB Local cannot run", "Java is required")


# Browser origins the session's stack allows besides the demo page's (``--allow-origin``,
# given twice: the option repeats): a developer's Vite server and a second web app.
EXTRA_ORIGINS = ("http://localhost:5173", "http://127.0.0.1:4173")


@pytest.fixture(scope="session")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    """One stack on DynamoDB Local for the whole session."""
    require_java()
    options = tuple(item for origin in EXTRA_ORIGINS for item in ("--allow-origin", origin))
    running = Stack(tmp_path_factory.mktemp("stack"), options=options)
    yield running
    leftover = running.stop()
    assert not leftover, f"processes left running: {leftover}"


# The stuck-worker test needs time to look at a silent worker before the stack kills it.
WATCHED_STALL_SECONDS = 15


@pytest.fixture(scope="session")
def watched(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    """A stack whose parts tests kill and stop, in ``<tmp>/.data`` (the default folder name)."""
    require_java()
    folder = tmp_path_factory.mktemp("watched") / ".data"
    running = Stack(folder, options=("--worker-stall-seconds", str(WATCHED_STALL_SECONDS)))
    yield running
    leftover = running.stop()
    assert not leftover, f"processes left running: {leftover}"


def current(stack: Stack) -> dict[str, Any]:
    """The stack's status file now; it must be running."""
    found = status.read(stack.data_dir)
    assert found is not None, f"the stack is not running:\n{stack.output()[-3000:]}"
    return found


def wait_for(condition: Any, timeout: float = 20.0, what: str = "condition") -> Any:
    """``local.processes.wait_until`` with the stack tests' defaults."""
    return wait_until(condition, timeout, what, interval=0.2)


def worker_passes(data_dir: Path, passes: int = 5, timeout: float = 20.0) -> dict[str, Any]:
    """The worker's entry of the status file once it has polled the stream ``passes`` more times.

    The worker beats after every pass: the first heartbeat newer than this call
    ends a pass that may have begun before it; each later one ends a pass begun
    after it. A wait on those, not on the clock: a busy machine only makes it longer.
    """
    since = time.time()
    beats: list[float] = []

    def polled() -> dict[str, Any] | None:
        running = status.read(data_dir)
        if running is None:
            return None
        beat = running["worker"].get("heartbeat_at")
        if isinstance(beat, int | float) and beat > max([since, *beats]):
            beats.append(beat)
        return dict(running["worker"]) if len(beats) > passes else None

    return dict(wait_for(polled, timeout, f"{passes} passes of the stream worker"))


def run_reconcile(stack: Stack, *options: str) -> subprocess.CompletedProcess[str]:
    """``python -m ops.reconcile`` from the folder holding the stack's ``.data``."""
    env = {**stack_environment(), "PYTHONPATH": str(ROOT)}
    return subprocess.run(
        [sys.executable, "-m", "ops.reconcile", *options],
        cwd=stack.data_dir.parent,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
