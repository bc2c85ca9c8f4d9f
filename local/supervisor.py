"""Watch the local stack's child processes: restart one that dies, give up on one that keeps dying.

Each part is a child process (see ``local.processes``: it dies with the stack).
A part that exits, fails its health check or is not ready in time is restarted
after a backoff (0.5 s, then doubling), and the restart is logged and counted.
The ``max_deaths``-th death within ``window`` seconds raises ``PartFailed``
with the part's last output lines: the stack then stops everything and exits
non-zero rather than limp on.

Hand-written on purpose, in about two hundred lines: supervisord and circus are
daemons with their own configuration and control socket; neither stops the
whole group when one program gives up (supervisord marks it FATAL and keeps the
rest running), and neither arms a parent-death signal, so a ``kill -9`` of
them leaves their programs running, which is the orphan problem this solves.
"""

from __future__ import annotations

import collections
import contextlib
import logging
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

from local import processes

logger = logging.getLogger("local.stack")

LAST_LINES = 20
UP, STARTING, RESTARTING, DOWN = "up", "starting", "restarting", "down"


@dataclass
class PartSpec:
    """How to run one part, and how to tell that it serves."""

    name: str  # its key in the status file
    title: str  # for people
    command: list[str]
    cwd: Path
    env: Mapping[str, str]
    # Whether the child with this pid serves; asked of that pid only, never of a port
    # alone, so an impostor's answer is never taken for the stack's.
    ready: Callable[[int], bool]
    # A reason to restart a running child (a stalled heartbeat), or None.
    health: Callable[[int], str | None] = lambda _pid: None
    echo: bool = True  # copy its output to the stack's


class PartFailed(Exception):
    def __init__(self, part: Part, message: str) -> None:
        super().__init__(message)
        self.part = part


class Part:
    """One child process of the stack and its history; every change of its state is a method here.

    The supervisor decides when (a tick saw it exit, serve, stall); the part
    keeps what follows from it consistent: its state and since when, its
    process and output reader, its deaths, restarts and last error.
    """

    def __init__(self, spec: PartSpec, log_file: Path) -> None:
        self.spec = spec
        self.log_file = log_file
        self._state = DOWN
        self._since = 0.0
        self._process: subprocess.Popen[bytes] | None = None
        self._reader: threading.Thread | None = None
        self._started_at = 0.0
        self._next_start: float | None = None
        self._restarts = 0
        self._last_error: str | None = None
        # Why it is being killed, if the stack kills it: told as its death's reason.
        self._pending_error: str | None = None
        self._deaths: collections.deque[float] = collections.deque()
        self.lines: collections.deque[str] = collections.deque(maxlen=LAST_LINES)

    @property
    def state(self) -> str:
        return self._state

    @property
    def since(self) -> float:
        return self._since

    @property
    def process(self) -> subprocess.Popen[bytes] | None:
        return self._process

    @property
    def pid(self) -> int | None:
        return int(self._process.pid) if self._process is not None else None

    @property
    def started_at(self) -> float:
        return self._started_at

    @property
    def restarts(self) -> int:
        return self._restarts

    @property
    def last_error(self) -> str | None:
        return self._last_error

    @property
    def deaths(self) -> tuple[float, ...]:
        """When it died, within the supervisor's window."""
        return tuple(self._deaths)

    def _enter(self, state: str, now: float) -> None:
        self._state, self._since = state, now

    def start(self, now: float) -> None:
        self.log_file.parent.mkdir(parents=True, exist_ok=True)
        process = processes.spawn(self.spec.command, cwd=self.spec.cwd, env=self.spec.env)
        self._process = process
        self._started_at = now
        self._next_start = None
        self._pending_error = None
        if self._state == DOWN:
            self._enter(STARTING, now)
        stdout = process.stdout
        assert stdout is not None
        self._reader = threading.Thread(
            target=self._read, args=(stdout, process.pid), name=f"{self.spec.name}-output"
        )
        self._reader.daemon = True
        self._reader.start()

    def _read(self, stream: IO[bytes], pid: int) -> None:
        """Keep the last lines, append them all to the part's log, echo them if asked."""
        with self.log_file.open("ab") as log:
            log.write(f"--- {self.spec.title} started, pid {pid}\n".encode())
            for raw in stream:
                line = raw.decode(errors="replace").rstrip("\n")
                self.lines.append(line)
                # Keep draining whatever fails here (a full disk, a closed terminal
                # pipe): a child whose output nobody reads blocks on its next write.
                with contextlib.suppress(OSError, ValueError):
                    log.write(raw)
                    log.flush()
                if self.spec.echo:
                    with contextlib.suppress(OSError, ValueError):
                        print(f"[{self.spec.name}] {line}", flush=True)

    def due(self, now: float) -> bool:
        """Whether it waits for a restart whose backoff has passed."""
        return self._process is None and self._next_start is not None and now >= self._next_start

    def exit_reason(self) -> str | None:
        """Why its process ended (the stack's reason if the stack killed it); None while it runs."""
        if self._process is None or self._process.poll() is None:
            return None
        return self._pending_error or processes.exit_description(self._process.returncode)

    def serving(self, now: float) -> None:
        """Its process answered the readiness check: it is up."""
        self._enter(UP, now)

    def kill(self, reason: str) -> None:
        """Count a running child as failed for ``reason`` and kill it; the next tick restarts it."""
        self._pending_error = reason
        if self._process is not None:
            self._process.kill()

    def died(self, now: float, reason: str, window: float) -> int:
        """Record its process's death; the number of deaths within the last ``window`` seconds."""
        self._forget_process()
        self._last_error = reason
        self._deaths.append(now)
        while self._deaths and self._deaths[0] < now - window:
            self._deaths.popleft()
        return len(self._deaths)

    def restart_after(self, now: float, delay: float) -> None:
        """Counted as a restart, started again by the first tick ``delay`` seconds from ``now``."""
        self._restarts += 1
        self._next_start = now + delay
        self._enter(RESTARTING, now)

    def give_up(self, now: float) -> None:
        self._next_start = None
        self._enter(DOWN, now)

    def stop(self, now: float) -> None:
        """Stop its process if it runs (SIGTERM, then SIGKILL); it is down."""
        if self._process is not None:
            processes.stop(self._process)
            self._forget_process()
        self.give_up(now)

    def _forget_process(self) -> None:
        if self._reader is not None:
            self._reader.join(timeout=2)  # its last lines, before anyone reads them
        self._process = None

    def snapshot(self, now: float) -> dict[str, Any]:
        return {
            "title": self.spec.title,
            "state": self._state,
            "pid": self.pid if self._state != DOWN else None,
            "restarts": self._restarts,
            "last_error": self._last_error,
            "since": self._since,
            "log": str(self.log_file),
        }


class Supervisor:
    """Runs parts and watches them, one ``tick`` at a time, from the main thread."""

    def __init__(
        self,
        log_dir: Path,
        *,
        max_deaths: int = 3,
        window: float = 60.0,
        start_timeout: float = 90.0,
        on_up: Callable[[Part], None] = lambda _part: None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.parts: dict[str, Part] = {}
        self._log_dir = log_dir
        self._max_deaths = max_deaths
        self._window = window
        self._start_timeout = start_timeout
        self._on_up = on_up
        self._clock = clock

    def add(self, spec: PartSpec) -> Part:
        part = Part(spec, self._log_dir / f"{spec.name}.log")
        self.parts[spec.name] = part
        return part

    def start(self, name: str) -> None:
        self.parts[name].start(self._clock())

    def up(self, *names: str) -> bool:
        return all(self.parts[name].state == UP for name in names)

    def tick(self) -> None:
        """Look at every part once; ``PartFailed`` when one has died too often."""
        now = self._clock()
        for part in self.parts.values():
            pid = part.pid
            if pid is None:
                if part.due(now):
                    logger.info("starting %s again (restart %d)", part.spec.title, part.restarts)
                    part.start(now)
                continue
            reason = part.exit_reason()
            if reason is not None:
                self._died(part, now, reason)
                continue
            if part.state in (STARTING, RESTARTING):
                if part.spec.ready(pid):
                    part.serving(now)
                    logger.info("%s is up (pid %d)", part.spec.title, pid)
                    self._on_up(part)
                elif now - part.started_at > self._start_timeout:
                    part.kill(f"not ready within {self._start_timeout:g}s")
            elif part.state == UP:
                problem = part.spec.health(pid)
                if problem is not None:
                    logger.warning("%s (pid %d): %s; killing it", part.spec.title, pid, problem)
                    part.kill(problem)

    def _died(self, part: Part, now: float, reason: str) -> None:
        pid = part.pid
        deaths = part.died(now, reason, self._window)
        if deaths >= self._max_deaths:
            part.give_up(now)
            raise PartFailed(
                part,
                f"{part.spec.title} ({part.spec.name}) died {deaths} times within "
                f"{self._window:g}s (last: pid {pid}, {reason})",
            )
        delay = min(8.0, 0.5 * 2 ** (deaths - 1))
        part.restart_after(now, delay)
        logger.warning(
            "%s (pid %s) %s; restarting it in %.1fs (restart %d)",
            part.spec.title,
            pid,
            reason,
            delay,
            part.restarts,
        )

    def stop_all(self) -> None:
        """Stop every running part, the last started first."""
        for part in reversed(list(self.parts.values())):
            part.stop(self._clock())


def last_lines(part: Part) -> str:
    lines = list(part.lines) or ["(no output)"]
    return "\n".join(f"  | {line}" for line in lines)


def report_failure(error: PartFailed, stream: IO[str] = sys.stderr) -> None:
    print(
        f"error: {error}; stopping the stack.\n"
        f"Last lines of its output (all of it in {error.part.log_file}):\n"
        f"{last_lines(error.part)}",
        file=stream,
        flush=True,
    )
