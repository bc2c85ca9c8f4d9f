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
import sys
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
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


@dataclass
class Part:
    spec: PartSpec
    log_file: Path
    state: str = DOWN
    process: Any = None  # subprocess.Popen[bytes] while it runs
    restarts: int = 0
    last_error: str | None = None
    since: float = 0.0
    started_at: float = 0.0
    next_start: float | None = None
    deaths: collections.deque[float] = field(default_factory=collections.deque)
    lines: collections.deque[str] = field(
        default_factory=lambda: collections.deque(maxlen=LAST_LINES)
    )
    _pending_error: str | None = None
    _reader: threading.Thread | None = None

    @property
    def pid(self) -> int | None:
        return int(self.process.pid) if self.process is not None else None

    def _enter(self, state: str, now: float) -> None:
        self.state, self.since = state, now

    def start(self, now: float) -> None:
        self.log_file.parent.mkdir(parents=True, exist_ok=True)
        self.process = processes.spawn(self.spec.command, cwd=self.spec.cwd, env=self.spec.env)
        self.started_at = now
        self.next_start = None
        self._pending_error = None
        if self.state == DOWN:
            self._enter(STARTING, now)
        stdout = self.process.stdout
        assert stdout is not None
        self._reader = threading.Thread(
            target=self._read, args=(stdout, self.process.pid), name=f"{self.spec.name}-output"
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

    def kill(self, reason: str) -> None:
        """Count a running child as failed for ``reason`` and kill it; the next tick restarts it."""
        self._pending_error = reason
        if self.process is not None:
            self.process.kill()

    def snapshot(self, now: float) -> dict[str, Any]:
        return {
            "title": self.spec.title,
            "state": self.state,
            "pid": self.pid if self.state != DOWN else None,
            "restarts": self.restarts,
            "last_error": self.last_error,
            "since": self.since,
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
            process = part.process
            if process is None:
                if part.next_start is not None and now >= part.next_start:
                    logger.info("starting %s again (restart %d)", part.spec.title, part.restarts)
                    part.start(now)
                continue
            if process.poll() is not None:
                reason = part._pending_error or processes.exit_description(process.returncode)
                self._died(part, now, reason)
                continue
            if part.state in (STARTING, RESTARTING):
                if part.spec.ready(process.pid):
                    part._enter(UP, now)
                    logger.info("%s is up (pid %d)", part.spec.title, process.pid)
                    self._on_up(part)
                elif now - part.started_at > self._start_timeout:
                    part.kill(f"not ready within {self._start_timeout:g}s")
            elif part.state == UP:
                problem = part.spec.health(process.pid)
                if problem is not None:
                    logger.warning(
                        "%s (pid %d): %s; killing it", part.spec.title, process.pid, problem
                    )
                    part.kill(problem)

    def _died(self, part: Part, now: float, reason: str) -> None:
        pid = part.pid
        if part._reader is not None:
            part._reader.join(timeout=2)  # its last lines, before anyone reads them
        part.process = None
        part.last_error = reason
        part.deaths.append(now)
        while part.deaths and part.deaths[0] < now - self._window:
            part.deaths.popleft()
        if len(part.deaths) >= self._max_deaths:
            part._enter(DOWN, now)
            raise PartFailed(
                part,
                f"{part.spec.title} ({part.spec.name}) died {len(part.deaths)} times within "
                f"{self._window:g}s (last: pid {pid}, {reason})",
            )
        delay = min(8.0, 0.5 * 2 ** (len(part.deaths) - 1))
        part.restarts += 1
        part.next_start = now + delay
        part._enter(RESTARTING, now)
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
            if part.process is not None:
                processes.stop(part.process)
                if part._reader is not None:
                    part._reader.join(timeout=2)
                part.process = None
            part._enter(DOWN, self._clock())


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
