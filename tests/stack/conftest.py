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

import pytest

from local import status
from local.dynamodb_local import free_port, java
from local.tokens import token

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
    """Every live process below ``pid`` (children, grandchildren, ...), from /proc."""
    parents: dict[int, int] = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue
        # The command name may hold spaces and parentheses: split after the last ')'.
        fields = stat[stat.rindex(")") + 2 :].split()
        if fields[0] != "Z":
            parents[int(entry.name)] = int(fields[1])
    found: set[int] = set()
    frontier = {pid}
    while frontier:
        frontier = {child for child, parent in parents.items() if parent in frontier}
        found |= frontier
    return found


def listen_addresses(port: int) -> set[str]:
    """The addresses TCP sockets listen on at ``port``, from /proc/net/tcp and tcp6.

    IPv4-mapped IPv6 addresses (a Java socket on 127.0.0.1) come back as IPv4.
    """
    found: set[str] = set()
    for table in ("tcp", "tcp6"):
        try:
            lines = Path(f"/proc/net/{table}").read_text().splitlines()[1:]
        except OSError:
            continue
        for line in lines:
            fields = line.split()
            address, port_hex = fields[1].split(":")
            if fields[3] != "0A" or int(port_hex, 16) != port:  # 0A: LISTEN
                continue
            # The kernel prints each 32-bit word in host (little-endian) order.
            raw = b"".join(
                bytes.fromhex(address[i : i + 8])[::-1] for i in range(0, len(address), 8)
            )
            ip = ipaddress.ip_address(raw)
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
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    return stat[stat.rindex(")") + 2] != "Z"


class Stack:
    """One ``python -m local.stack`` process and what it reports in its status file."""

    def __init__(self, tmp: Path, *, backend: str = "auto", path: str | None = None) -> None:
        self.data_dir = tmp
        self.log = tmp / "stack.log"
        env = stack_environment()
        if path is not None:
            env["PATH"] = path
        args = [sys.executable, "-m", "local.stack", "--data-dir", str(tmp)]
        args += ["--port", str(free_port()), "--dynamodb-port", str(free_port())]
        args += ["--web-port", str(free_port()), "--backend", backend]
        with self.log.open("wb") as log:
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
        if os.environ.get("CI") == "true":
            pytest.fail("Java is required for the stack tests under CI=true")
        pytest.skip("Java is not installed: DynamoDB Local cannot run")


@pytest.fixture(scope="session")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    """One stack on DynamoDB Local for the whole session."""
    require_java()
    running = Stack(tmp_path_factory.mktemp("stack"))
    yield running
    leftover = running.stop()
    assert not leftover, f"processes left running: {leftover}"


def wait_for(condition: Any, timeout: float = 20.0, what: str = "condition") -> Any:
    deadline = time.monotonic() + timeout
    while True:
        value = condition()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"{what} not met within {timeout}s")
        time.sleep(0.2)
