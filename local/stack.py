"""The whole service on this machine: ``make run``.

Starts DynamoDB Local (data kept under ``.data/``; moto's server where Java is
missing), creates the tables from ``infra/`` when missing, runs the stream worker
that feeds the Favorites stream to the real ``aggregate_favorites`` handler,
serves the API with ``chalice local`` on 127.0.0.1:8000 (stage ``local``), the
same API through an HTTP cache with the edge's rules on 127.0.0.1:8003 (nginx,
where installed) and the demo page on 127.0.0.1:8002, and keeps
``.data/stack-status.json`` up to date.
Ctrl-C or SIGTERM stops it all. Ports and the data folder are options.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import logging
import os
import signal
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from pathlib import Path
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError

from chalicelib import aws
from chalicelib.settings import Settings, from_environment
from infra import stages
from infra.tables import TableNames, ensure_tables
from local import backends, cache, processes, status
from local.api_server import CLIENT_TIMEOUT_SECONDS, MAX_CONNECTIONS
from local.dynamodb_local import DynamoDBLocal, DynamoDBLocalUnavailable, java
from local.stream_worker import heartbeat_path
from local.supervisor import Part, PartFailed, PartSpec, Supervisor, report_failure

ROOT = Path(__file__).resolve().parents[1]
DATA = ROOT / ".data"
STAGE = "local"
TICK_SECONDS = 0.2
START_TIMEOUT = 120.0

logger = logging.getLogger("local.stack")


def stage_environment(stage: str = STAGE) -> dict[str, str]:
    """The stage's environment variables, as ``chalice local`` will set them."""
    return dict(stages.stage(stage).environment)


def _interrupt(*_: object) -> None:
    # SIGTERM takes the same way out as Ctrl-C, whatever the stack is doing.
    raise KeyboardInterrupt


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--port", type=int, default=8000, help="chalice local port")
    parser.add_argument("--dynamodb-port", type=int, default=8001, help="DynamoDB port")
    parser.add_argument("--web-port", type=int, default=8002, help="demo page port")
    parser.add_argument(
        "--cache-port",
        type=int,
        default=cache.DEFAULT_PORT,
        help="port of the HTTP cache (nginx) in front of the API",
    )
    parser.add_argument(
        "--nginx",
        metavar="PATH",
        help="the nginx binary of the cache (default: nginx on PATH or in /usr/sbin)",
    )
    parser.add_argument("--data-dir", type=Path, default=DATA, help="data and status folder")
    parser.add_argument(
        "--backend",
        choices=["auto", "dynamodb-local", "moto"],
        default="auto",
        help="DynamoDB endpoint: auto takes DynamoDB Local when Java is there, else moto",
    )
    parser.add_argument("--fresh", action="store_true", help="start with empty tables")
    parser.add_argument(
        "--allow-origin",
        action="append",
        default=[],
        metavar="URL",
        help="another browser origin allowed to call the API (CORS), e.g."
        " http://localhost:5173; repeatable (the demo page's is always allowed)",
    )
    watch = parser.add_argument_group("supervision")
    watch.add_argument(
        "--max-deaths",
        type=int,
        default=3,
        help="a part that dies this many times within --death-window stops the stack",
    )
    watch.add_argument("--death-window", type=float, default=60.0, help="seconds")
    watch.add_argument(
        "--worker-stall-seconds",
        type=float,
        default=60.0,
        help="a stream worker silent this long is killed and restarted",
    )
    watch.add_argument(
        "--client-timeout",
        type=float,
        default=CLIENT_TIMEOUT_SECONDS,
        help="seconds chalice local waits for a byte from a client before closing",
    )
    watch.add_argument(
        "--max-connections",
        type=int,
        default=MAX_CONNECTIONS,
        help="connections chalice local serves at once; more get 503",
    )
    return parser.parse_args(argv)


def check_ports(ports: dict[str, tuple[str, int]]) -> str | None:
    """Why the stack cannot listen where asked (a port given twice, or taken), or None."""
    seen: dict[int, str] = {}
    for option, (what, port) in ports.items():
        if port in seen:
            return f"port {port} is given for both {seen[port]} and {what}"
        seen[port] = what
        if not processes.port_free(port):
            return (
                f"port {port} ({what}) is already in use by {processes.port_holder(port)}; "
                f"stop that or choose another port with {option}"
            )
    return None


def http_ready(pid_port: int, url: str) -> Callable[[int], bool]:
    """Ready once that very pid listens on the port and the URL answers (any HTTP status)."""

    def ready(pid: int) -> bool:
        if not processes.listens(pid, pid_port):
            return False
        try:
            urllib.request.urlopen(url, timeout=1).close()
        except urllib.error.HTTPError:
            return True  # it answers
        except OSError:
            return False
        return True

    return ready


class WorkerWatch:
    """The stream worker's heartbeat file, believed only when written by the stack's worker."""

    def __init__(self, data_dir: Path, supervisor: Supervisor, stall_seconds: float) -> None:
        self._file = heartbeat_path(data_dir)
        self._supervisor = supervisor
        self._stall = stall_seconds
        self.last: dict[str, Any] = {}

    def beat(self, pid: int | None) -> dict[str, Any] | None:
        try:
            beat: dict[str, Any] = json.loads(self._file.read_text())
        except (OSError, ValueError):
            return None
        if pid is None or beat.get("pid") != pid:
            return None
        self.last = beat
        return beat

    def ready(self, pid: int) -> bool:
        return self.beat(pid) is not None

    def health(self, pid: int) -> str | None:
        beat = self.beat(pid)
        at = float(beat["heartbeat_at"]) if beat else 0.0
        silent = time.time() - at
        return f"no heartbeat for {silent:.0f}s" if silent > self._stall else None

    def status(self, now: float) -> dict[str, Any]:
        """The worker's counters, its heartbeat and the part's state, for the status file."""
        part = self._supervisor.parts["worker"]
        self.beat(part.pid)
        beat = dict(self.last)
        beat.pop("pid", None)
        at = beat.get("heartbeat_at")
        return {
            **beat,
            "state": part.state,
            "pid": part.pid,
            "restarts": part.restarts,
            # failing: what the worker reports failing now (None when all is well);
            # last_error: that, else why its process last died.
            "last_error": beat.get("failing") or part.last_error,
            "last_exit": part.last_error,
            "heartbeat_age_seconds": round(now - at, 3) if at else None,
        }


class Stack:
    """One run of the local stack: its folder, ports and parts, and the status file it keeps.

    ``run`` checks that it may start (free ports, no other stack on the folder),
    starts DynamoDB (and the tables), the stream worker, the API and the demo
    page, then watches them until Ctrl-C or SIGTERM, or until a part keeps
    dying; it stops everything it started on the way out.
    """

    def __init__(self, args: argparse.Namespace) -> None:
        self.args = args
        self.data: Path = args.data_dir.resolve()
        self.api_url = f"http://127.0.0.1:{args.port}"
        self.web_url = f"http://127.0.0.1:{args.web_port}"
        self.dynamodb_url = f"http://127.0.0.1:{args.dynamodb_port}"
        self.backend = ""
        nginx = args.nginx if args.nginx else cache.find_nginx()
        self.cache: cache.Cache | None = None
        if nginx and os.access(nginx, os.X_OK):
            origin = f"127.0.0.1:{args.port}"
            self.cache = cache.Cache(nginx, self.data / "cache", args.cache_port, origin)
        self.supervisor = Supervisor(
            self.data / "logs",
            max_deaths=args.max_deaths,
            window=args.death_window,
            on_up=self._tables_ready,
        )
        self.watch = WorkerWatch(self.data, self.supervisor, args.worker_stall_seconds)
        # What the status file says besides the parts (state: starting, running, failed).
        self.running: dict[str, Any] = {}
        self._ensure_tables: Callable[[], list[str]] = list  # set once DynamoDB is chosen
        self._failed = False

    def run(self) -> int:
        """Start, watch until stopped; the exit code (1: refused or failed)."""
        signal.signal(signal.SIGTERM, _interrupt)
        # Also when started with SIGINT ignored (a background job of a script): Ctrl-C
        # and kill -INT must still stop everything.
        signal.signal(signal.SIGINT, _interrupt)
        self.data.mkdir(parents=True, exist_ok=True)
        ports = {
            "--port": ("the API", self.args.port),
            "--dynamodb-port": ("DynamoDB", self.args.dynamodb_port),
            "--web-port": ("the demo page", self.args.web_port),
        }
        if self.cache is not None:
            ports["--cache-port"] = ("the cache", self.args.cache_port)
        else:
            print(
                f"warning: nginx is missing ({cache.INSTALL_HINT}): serving without the "
                f"HTTP cache, nothing on port {self.args.cache_port}",
                file=sys.stderr,
                flush=True,
            )
        problem = check_ports(ports)
        if problem is not None:
            print(f"error: {problem}", file=sys.stderr, flush=True)
            return 1
        stage_env = self._environment()
        # Handed to the children; this process reads the same as settings.
        child_env = {**os.environ, **stage_env, "PYTHONUNBUFFERED": "1"}
        other = status.read(self.data)
        if other is not None:
            # Two stacks on one folder would share DynamoDB Local's files and each
            # other's worker heartbeat: refused, like a taken port.
            print(
                f"error: another stack (pid {other['pid']}) runs on {self.data}; stop it, "
                "or give this one --data-dir",
                file=sys.stderr,
                flush=True,
            )
            return 1
        self._prepare_folder(from_environment(stage_env))
        with contextlib.ExitStack() as cleanup:
            cleanup.callback(logger.info, "stopped")
            try:
                self._start(child_env, cleanup)
                self._watch()
            except KeyboardInterrupt:
                pass
            except (PartFailed, RuntimeError, DynamoDBLocalUnavailable) as error:
                self._fail(error)
                return 1
            finally:
                _ignore_signals()
        return 0

    def _environment(self) -> dict[str, str]:
        """The stage's variables: what the children get on top of this process's environment."""
        env = stage_environment()
        # The stage config leaves these to the stack, which alone knows its ports.
        env["DYNAMODB_ENDPOINT_URL"] = self.dynamodb_url
        # The demo page's origin, then any the developer added (a Vite server, another app).
        env["CORS_ALLOW_ORIGINS"] = ",".join([self.web_url, *self.args.allow_origin])
        return env

    def _prepare_folder(self, settings: Settings) -> None:
        """Choose the backend, empty the folder as asked, and connect to DynamoDB's tables."""
        data = self.data
        if self.args.fresh and (data / "dynamodb").exists():
            for path in (data / "dynamodb").iterdir():
                path.unlink()
            (data / "stream-checkpoints.json").unlink(missing_ok=True)
        self.backend = backends.choose(self.args.backend, java())
        if self.backend == "moto":
            print(backends.MOTO_WARNING, file=sys.stderr, flush=True)
            # moto keeps nothing: checkpoints from an earlier run name records that are gone.
            (data / "stream-checkpoints.json").unlink(missing_ok=True)
        heartbeat_path(data).unlink(missing_ok=True)
        client = aws.dynamodb(settings)
        names = TableNames(
            settings.favorites_table, settings.counts_table, settings.documents_table
        )
        self._ensure_tables = lambda: ensure_tables(client, names)
        self.running = {
            "pid": os.getpid(),
            "state": "starting",
            "api": self.api_url,
            "web": self.web_url,
            "cache": self.cache.url if self.cache is not None else None,
            "dynamodb": self.dynamodb_url,
            "backend": self.backend,
            "data_dir": str(data),
            "tables": {"favorites": names.favorites, "counts": names.counts},
        }

    def _tables_ready(self, part: Part | None = None) -> None:
        # Again after every DynamoDB restart: cheap, and a wiped folder heals itself.
        if part is None or part.spec.name == "dynamodb":
            try:
                created = self._ensure_tables()
            except (BotoCoreError, ClientError) as error:
                if part is None:
                    raise RuntimeError(f"could not create the tables: {error}") from error
                # DynamoDB died again or hangs: a death of its own, counted and restarted.
                part.kill(f"could not create the tables: {error}")
                return
            logger.info("tables created: %s", created or "none")

    def _specs(self, child_env: dict[str, str]) -> list[PartSpec]:
        """The parts the supervisor runs, DynamoDB Local first when it is the backend."""
        args, python = self.args, [sys.executable, "-m"]
        specs = []
        if self.backend != "moto":
            dynamodb = DynamoDBLocal(args.dynamodb_port, self.data / "dynamodb")
            specs.append(
                PartSpec(
                    "dynamodb",
                    "DynamoDB Local",
                    dynamodb.command(),
                    dynamodb.cwd,
                    child_env,
                    http_ready(args.dynamodb_port, self.dynamodb_url),
                    echo=False,
                )
            )
        api_command = [*python, "local.api_server", "--port", str(args.port)]
        api_command += ["--client-timeout", str(args.client_timeout)]
        api_command += ["--max-connections", str(args.max_connections)]
        web_command = [*python, "local.webserver", "--port", str(args.web_port)]
        return [
            *specs,
            PartSpec(
                "worker",
                "stream worker",
                [*python, "local.stream_worker", "--data-dir", str(self.data)],
                ROOT,
                child_env,
                self.watch.ready,
                self.watch.health,
            ),
            PartSpec(
                "api",
                "chalice local",
                api_command,
                ROOT,
                child_env,
                http_ready(args.port, f"{self.api_url}/public/graphql"),
            ),
            PartSpec(
                "web",
                "demo page",
                [*web_command, "--api", self.api_url],
                ROOT,
                child_env,
                http_ready(args.web_port, f"{self.web_url}/config.json"),
                echo=False,
            ),
            *self._cache_specs(child_env),
        ]

    def _cache_specs(self, child_env: dict[str, str]) -> list[PartSpec]:
        """nginx in front of the API, where it is installed."""
        if self.cache is None:
            return []
        # Rendered with this run's ports; nginx reads it at every (re)start.
        self.cache.prepare()
        return [
            PartSpec(
                "cache",
                "HTTP cache (nginx)",
                self.cache.command(),
                self.cache.folder,
                child_env,
                # Any answer will do, a 502 before the API is up included.
                http_ready(self.cache.port, f"{self.cache.url}/"),
                echo=False,
            )
        ]

    def _start(self, child_env: dict[str, str], cleanup: contextlib.ExitStack) -> None:
        """Start every part, DynamoDB and its tables first; back once all are up."""
        if self.backend == "moto":
            database = backends.MotoServer(self.args.dynamodb_port).start()
            cleanup.callback(database.stop)
        for spec in self._specs(child_env):
            self.supervisor.add(spec)
        # Callbacks run last first: the parts stop, then the status file goes.
        cleanup.callback(self._remove_status, status.path(self.data))
        cleanup.callback(self.supervisor.stop_all)
        if self.backend == "moto":
            self._tables_ready()
        else:
            self.supervisor.start("dynamodb")
            self._run_until(lambda: self.supervisor.up("dynamodb"), "DynamoDB Local")
        for name in ("worker", "api", "web", "cache"):
            if name in self.supervisor.parts:
                self.supervisor.start(name)
        self._run_until(lambda: self.supervisor.up(*self.supervisor.parts), "the stack")
        self.running["state"] = "running"
        print(
            f"\nFavorites service running:\n"
            f"  GraphQL (token):  {self.api_url}/graphql\n"
            f"  GraphQL (public): {self.api_url}/public/graphql  (GraphiQL in a browser)\n"
            f"  {self._cache_line()}\n"
            f"  Demo page:        {self.web_url}/\n"
            f"  DynamoDB:         {self.dynamodb_url}  ({self.backend}, data in {self.data}/)\n"
            f"  Status:           {status.path(self.data)}\n"
            f"Ctrl-C stops everything.\n",
            flush=True,
        )

    def _cache_line(self) -> str:
        if self.cache is None:
            return f"Cache:            off (nginx is missing: {cache.INSTALL_HINT})"
        return (
            f"Cache (edge):     {self.cache.url}/public/graphql and /graphql"
            f"  (nginx, port {self.cache.port})"
        )

    def _run_until(self, condition: Callable[[], bool], what: str) -> None:
        deadline = time.monotonic() + START_TIMEOUT
        while not condition():
            self._tick()
            if time.monotonic() > deadline:
                raise RuntimeError(f"{what} not ready within {START_TIMEOUT:.0f}s")
            time.sleep(TICK_SECONDS)

    def _watch(self) -> None:
        """Tick until interrupted (KeyboardInterrupt) or a part fails (PartFailed)."""
        while True:
            self._tick()
            time.sleep(TICK_SECONDS)

    def _tick(self) -> None:
        self.supervisor.tick()
        self._write_status()

    def _write_status(self, **extra: Any) -> None:
        now = time.time()
        parts = {name: part.snapshot(now) for name, part in self.supervisor.parts.items()}
        if self.backend == "moto":
            parts["dynamodb"] = {"title": "moto (in the stack's process)", "state": "up"}
        worker: dict[str, Any] = {}
        if "worker" in parts:  # not when the start failed before the parts were set up
            parts["worker"] = {**parts["worker"], **self.watch.status(now)}
            worker = {k: v for k, v in parts["worker"].items() if k not in ("title", "log")}
        status.write(
            self.data,
            {**self.running, **extra, "parts": parts, "worker": worker, "updated_at": now},
        )

    def _fail(self, error: Exception) -> None:
        """Say why, stop every part, and leave the last status on disk."""
        _ignore_signals()
        if isinstance(error, PartFailed):
            report_failure(error)
        else:
            print(f"error: {error}", file=sys.stderr, flush=True)
        self.supervisor.stop_all()
        # The last word stays on disk for whoever looks; its pid is dead once the
        # stack exits, so status.read() no longer takes it for a running stack.
        self._failed = True
        self._write_status(state="failed", failure=str(error))

    def _remove_status(self, path: Path) -> None:
        if not self._failed:  # a failed stack's last status stays, for whoever looks
            path.unlink(missing_ok=True)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s")
    return Stack(args).run()


def _ignore_signals() -> None:
    # One clean-up, not two: a second Ctrl-C must not cut it short.
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    signal.signal(signal.SIGINT, signal.SIG_IGN)


if __name__ == "__main__":
    sys.exit(main())
