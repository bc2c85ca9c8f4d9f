"""The whole service on this machine: ``make run``.

Starts DynamoDB Local (data kept under ``.data/``; moto's server where Java is
missing), creates the tables from ``infra/`` when missing, runs the stream worker
that feeds the Favorites stream to the real ``aggregate_favorites`` handler,
serves the API with ``chalice local`` on 127.0.0.1:8000 (stage ``local``) and the
demo page on 127.0.0.1:8002, and keeps ``.data/stack-status.json`` up to date.
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

from infra import stages
from local import processes
from local.api_server import CLIENT_TIMEOUT_SECONDS, MAX_CONNECTIONS
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


def main(argv: list[str] | None = None) -> int:  # noqa: PLR0915 (one start-up, one clean-up)
    args = parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s")
    signal.signal(signal.SIGTERM, _interrupt)
    # Also when started with SIGINT ignored (a background job of a script): Ctrl-C
    # and kill -INT must still stop everything.
    signal.signal(signal.SIGINT, _interrupt)

    data: Path = args.data_dir.resolve()
    data.mkdir(parents=True, exist_ok=True)
    api_url = f"http://127.0.0.1:{args.port}"
    web_url = f"http://127.0.0.1:{args.web_port}"
    dynamodb_url = f"http://127.0.0.1:{args.dynamodb_port}"
    problem = check_ports(
        {
            "--port": ("the API", args.port),
            "--dynamodb-port": ("DynamoDB", args.dynamodb_port),
            "--web-port": ("the demo page", args.web_port),
        }
    )
    if problem is not None:
        print(f"error: {problem}", file=sys.stderr, flush=True)
        return 1
    env = stage_environment()
    # The stage config leaves these to the stack, which alone knows its ports;
    # its children inherit them.
    env["DYNAMODB_ENDPOINT_URL"] = dynamodb_url
    # The demo page's origin, then any the developer added (a Vite server, another app).
    env["CORS_ALLOW_ORIGINS"] = ",".join([web_url, *args.allow_origin])
    os.environ.update(env)
    child_env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    # Imported after the environment is set: settings are read once.
    from chalicelib import aws  # noqa: PLC0415
    from infra.tables import TableNames, ensure_tables  # noqa: PLC0415
    from local import backends, status  # noqa: PLC0415
    from local.dynamodb_local import DynamoDBLocal, DynamoDBLocalUnavailable, java  # noqa: PLC0415

    other = status.read(data)
    if other is not None:
        # Two stacks on one folder would share DynamoDB Local's files and each
        # other's worker heartbeat: refused, like a taken port.
        print(
            f"error: another stack (pid {other['pid']}) runs on {data}; stop it, "
            "or give this one --data-dir",
            file=sys.stderr,
            flush=True,
        )
        return 1
    if args.fresh and (data / "dynamodb").exists():
        for path in (data / "dynamodb").iterdir():
            path.unlink()
        (data / "stream-checkpoints.json").unlink(missing_ok=True)
    backend_name = backends.choose(args.backend, java())
    if backend_name == "moto":
        print(backends.MOTO_WARNING, file=sys.stderr, flush=True)
        # moto keeps nothing: checkpoints from an earlier run name records that are gone.
        (data / "stream-checkpoints.json").unlink(missing_ok=True)
    heartbeat_path(data).unlink(missing_ok=True)

    client = aws.dynamodb()
    names = TableNames(env["FAVORITES_TABLE"], env["FAVORITE_COUNTS_TABLE"])

    def tables_ready(part: Part | None = None) -> None:
        # Again after every DynamoDB restart: cheap, and a wiped folder heals itself.
        if part is None or part.spec.name == "dynamodb":
            try:
                created = ensure_tables(client, names)
            except (BotoCoreError, ClientError) as error:
                if part is None:
                    raise RuntimeError(f"could not create the tables: {error}") from error
                # DynamoDB died again or hangs: a death of its own, counted and restarted.
                part.kill(f"could not create the tables: {error}")
                return
            logger.info("tables created: %s", created or "none")

    supervisor = Supervisor(
        data / "logs",
        max_deaths=args.max_deaths,
        window=args.death_window,
        on_up=tables_ready,
    )
    watch = WorkerWatch(data, supervisor, args.worker_stall_seconds)
    python = [sys.executable, "-m"]
    running: dict[str, Any] = {
        "pid": os.getpid(),
        "state": "starting",
        "api": api_url,
        "web": web_url,
        "dynamodb": dynamodb_url,
        "backend": backend_name,
        "data_dir": str(data),
        "tables": {"favorites": names.favorites, "counts": names.counts},
    }

    def write_status(**extra: Any) -> None:
        now = time.time()
        parts = {name: part.snapshot(now) for name, part in supervisor.parts.items()}
        if backend_name == "moto":
            parts["dynamodb"] = {"title": "moto (in the stack's process)", "state": "up"}
        parts["worker"] = {**parts["worker"], **watch.status(now)}
        worker = {k: v for k, v in parts["worker"].items() if k not in ("title", "log")}
        status.write(
            data, {**running, **extra, "parts": parts, "worker": worker, "updated_at": now}
        )

    def run_until(condition: Callable[[], bool], timeout: float, what: str) -> None:
        deadline = time.monotonic() + timeout
        while not condition():
            supervisor.tick()
            write_status()
            if time.monotonic() > deadline:
                raise RuntimeError(f"{what} not ready within {timeout:.0f}s")
            time.sleep(TICK_SECONDS)

    failed: list[str] = []
    with contextlib.ExitStack() as cleanup:
        cleanup.callback(logger.info, "stopped")
        try:
            if backend_name == "moto":
                database = backends.MotoServer(args.dynamodb_port).start()
                cleanup.callback(database.stop)
            else:
                dynamodb = DynamoDBLocal(args.dynamodb_port, data / "dynamodb")
                supervisor.add(
                    PartSpec(
                        "dynamodb",
                        "DynamoDB Local",
                        dynamodb.command(),
                        dynamodb.cwd,
                        child_env,
                        http_ready(args.dynamodb_port, dynamodb_url),
                        echo=False,
                    )
                )
            api_command = [*python, "local.api_server", "--port", str(args.port)]
            api_command += ["--client-timeout", str(args.client_timeout)]
            api_command += ["--max-connections", str(args.max_connections)]
            web_command = [*python, "local.webserver", "--port", str(args.web_port)]
            for spec in (
                PartSpec(
                    "worker",
                    "stream worker",
                    [*python, "local.stream_worker", "--data-dir", str(data)],
                    ROOT,
                    child_env,
                    watch.ready,
                    watch.health,
                ),
                PartSpec(
                    "api",
                    "chalice local",
                    api_command,
                    ROOT,
                    child_env,
                    http_ready(args.port, f"{api_url}/public/graphql"),
                ),
                PartSpec(
                    "web",
                    "demo page",
                    [*web_command, "--api", api_url],
                    ROOT,
                    child_env,
                    http_ready(args.web_port, f"{web_url}/config.json"),
                    echo=False,
                ),
            ):
                supervisor.add(spec)
            # Callbacks run last first: the parts stop, then the status file goes.
            cleanup.callback(_remove_status, status.path(data), failed)
            cleanup.callback(supervisor.stop_all)
            if backend_name == "moto":
                tables_ready()
            else:
                supervisor.start("dynamodb")
                run_until(lambda: supervisor.up("dynamodb"), START_TIMEOUT, "DynamoDB Local")
            for name in ("worker", "api", "web"):
                supervisor.start(name)
            run_until(lambda: supervisor.up(*supervisor.parts), START_TIMEOUT, "the stack")
            running["state"] = "running"
            print(
                f"\nFavorites service running:\n"
                f"  GraphQL (token):  {api_url}/graphql\n"
                f"  GraphQL (public): {api_url}/public/graphql  (GraphiQL in a browser)\n"
                f"  Demo page:        {web_url}/\n"
                f"  DynamoDB:         {dynamodb_url}  ({backend_name}, data in {data}/)\n"
                f"  Status:           {status.path(data)}\n"
                f"Ctrl-C stops everything.\n",
                flush=True,
            )
            while True:
                supervisor.tick()
                write_status()
                time.sleep(TICK_SECONDS)
        except KeyboardInterrupt:
            pass
        except (PartFailed, RuntimeError, DynamoDBLocalUnavailable) as error:
            _ignore_signals()
            if isinstance(error, PartFailed):
                report_failure(error)
            else:
                print(f"error: {error}", file=sys.stderr, flush=True)
            supervisor.stop_all()
            # The last word stays on disk for whoever looks; its pid is dead once the
            # stack exits, so status.read() no longer takes it for a running stack.
            failed.append(str(error))
            write_status(state="failed", failure=str(error))
            return 1
        finally:
            _ignore_signals()
    return 0


def _remove_status(path: Path, failed: list[str]) -> None:
    if not failed:  # a failed stack's last status stays, for whoever looks
        path.unlink(missing_ok=True)


def _ignore_signals() -> None:
    # One clean-up, not two: a second Ctrl-C must not cut it short.
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    signal.signal(signal.SIGINT, signal.SIG_IGN)


if __name__ == "__main__":
    sys.exit(main())
