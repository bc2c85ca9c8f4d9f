"""Child processes that end with their parent, ports and who holds them, one wait helper.

Children are started with Linux's parent-death signal (``prctl(PR_SET_PDEATHSIG)``):
the kernel kills them when the process that started them dies, ``kill -9``
included, so the stack leaves no orphan serving stale ports. The signal is tied
to the *thread* that forked, not the process: children are started from the
main thread only (``spawn`` refuses otherwise), which lives as long as the stack.
"""

from __future__ import annotations

import contextlib
import ctypes
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import IO, Any, TypeVar

import psutil

PR_SET_PDEATHSIG = 1  # <linux/prctl.h>

T = TypeVar("T")


def _death_signal_setter() -> Callable[[], None] | None:
    """What the child runs between fork and exec; ``None`` where the kernel has no such signal."""
    if not sys.platform.startswith("linux"):
        return None
    # Resolved in the parent: between fork and exec the child should run as little as it can.
    prctl = ctypes.CDLL(None, use_errno=True).prctl
    parent = os.getpid()

    def die_with_parent() -> None:
        prctl(PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)
        if os.getppid() != parent:
            os._exit(1)  # the parent died before the signal was armed

    return die_with_parent


def spawn(
    args: Sequence[str],
    *,
    cwd: Path | None = None,
    env: Mapping[str, str] | None = None,
    stdout: int | IO[Any] | None = subprocess.PIPE,
) -> subprocess.Popen[bytes]:
    """Start ``args`` in its own session (Ctrl-C reaches only the stack), killed with its parent.

    Standard error goes where standard output goes.
    """
    if threading.current_thread() is not threading.main_thread():
        # The parent-death signal fires when the forking thread ends, not the process.
        raise RuntimeError("children must be started from the main thread")
    return subprocess.Popen(
        list(args),
        cwd=cwd,
        env=dict(env) if env is not None else None,
        stdin=subprocess.DEVNULL,
        stdout=stdout,
        stderr=subprocess.STDOUT,
        start_new_session=True,
        preexec_fn=_death_signal_setter(),  # noqa: PLW1509 (main thread only, see above)
    )


def stop(process: subprocess.Popen[bytes], timeout: float = 10.0) -> None:
    """SIGTERM, then SIGKILL after ``timeout``; always reaps the process."""
    if process.poll() is None:
        with contextlib.suppress(ProcessLookupError):
            process.terminate()
        try:
            process.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            with contextlib.suppress(ProcessLookupError):
                process.kill()
            process.wait()


def exit_description(returncode: int) -> str:
    """``exit code 3`` or ``killed by SIGKILL``."""
    if returncode < 0:
        try:
            return f"killed by {signal.Signals(-returncode).name}"
        except ValueError:
            return f"killed by signal {-returncode}"
    return f"exit code {returncode}"


def port_free(port: int, host: str = "127.0.0.1") -> bool:
    """Whether a server could listen on ``host:port`` now (as the stack's servers bind)."""
    with socket.socket() as sock:
        # As the servers themselves do: a port in TIME_WAIT after a restart is free.
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((host, port))
        except OSError:
            return False
    return True


def listeners(port: int) -> set[int]:
    """Pids of the processes listening on TCP ``port`` (any address) that this user can see."""
    found: set[int] = set()
    with contextlib.suppress(psutil.AccessDenied):
        for connection in psutil.net_connections(kind="tcp"):
            if (
                connection.status == psutil.CONN_LISTEN
                and connection.laddr
                and connection.laddr.port == port
                and connection.pid is not None
            ):
                found.add(connection.pid)
    return found


def describe(pid: int) -> str:
    """``pid 1234 (java -cp ...)``, the command line cut short."""
    try:
        command = " ".join(psutil.Process(pid).cmdline()) or psutil.Process(pid).name()
    except psutil.Error:
        return f"pid {pid}"
    return f"pid {pid} ({command[:120]}{'...' if len(command) > 120 else ''})"


def port_holder(port: int) -> str:
    """Who holds ``port``, as far as this user can see."""
    pids = listeners(port)
    if not pids:
        return "a process this user cannot see (or a socket not yet closed)"
    return ", ".join(describe(pid) for pid in sorted(pids))


def listens(pid: int, port: int) -> bool:
    """Whether process ``pid`` itself listens on TCP ``port``."""
    try:
        connections = psutil.Process(pid).net_connections(kind="tcp")
    except psutil.Error:
        return False
    return any(
        c.status == psutil.CONN_LISTEN and c.laddr and c.laddr.port == port for c in connections
    )


def wait_until(
    condition: Callable[[], T | None],
    timeout: float,
    what: str,
    interval: float = 0.1,
) -> T:
    """Poll ``condition`` until it returns something truthy; ``TimeoutError`` naming ``what``."""
    deadline = time.monotonic() + timeout
    while True:
        value = condition()
        if value:
            return value
        if time.monotonic() >= deadline:
            raise TimeoutError(f"{what} not within {timeout:g}s")
        time.sleep(interval)
