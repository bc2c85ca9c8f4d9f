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
import dataclasses
import logging
import os
import signal
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from pathlib import Path

from infra import stages

ROOT = Path(__file__).resolve().parents[1]
DATA = ROOT / ".data"
STAGE = "local"

logger = logging.getLogger("local.stack")


def stage_environment(stage: str = STAGE) -> dict[str, str]:
    """The stage's environment variables, as ``chalice local`` will set them."""
    return dict(stages.stage(stage).environment)


def _stop_group(process: subprocess.Popen[bytes]) -> None:
    """Stop a process started in its own session, and everything it started."""
    if process.poll() is None:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGTERM)
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(process.pid, signal.SIGKILL)
            process.wait()


def _wait_http(url: str, process: subprocess.Popen[bytes], timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"chalice local exited with {process.returncode}")
        try:
            urllib.request.urlopen(url, timeout=1)
            return
        except urllib.error.HTTPError:
            return  # it answers
        except OSError:
            time.sleep(0.2)
    raise RuntimeError(f"chalice local did not answer on {url} within {timeout:.0f}s")


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
    return parser.parse_args(argv)


def _start_chalice(port: int) -> subprocess.Popen[bytes]:
    chalice_bin = Path(sys.executable).parent / "chalice"
    # --no-autoreload: the reloader polls every file under the project (.venv,
    # node_modules, .data) and restarts the server whenever DynamoDB Local or
    # the stream worker writes to .data/. Its own session: stopping the stack
    # stops the whole group, whatever it started.
    command = [str(chalice_bin), "local", "--stage", STAGE, "--host", "127.0.0.1"]
    return subprocess.Popen(
        [*command, "--port", str(port), "--no-autoreload"], cwd=ROOT, start_new_session=True
    )


def main(argv: list[str] | None = None) -> int:  # noqa: PLR0915 (one start-up, one clean-up)
    args = parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s")
    signal.signal(signal.SIGTERM, _interrupt)

    data: Path = args.data_dir.resolve()
    data.mkdir(parents=True, exist_ok=True)
    api_url = f"http://127.0.0.1:{args.port}"
    web_url = f"http://127.0.0.1:{args.web_port}"
    env = stage_environment()
    # The stage config leaves these to the stack, which alone knows its ports;
    # chalice local inherits them.
    env["DYNAMODB_ENDPOINT_URL"] = f"http://127.0.0.1:{args.dynamodb_port}"
    env["CORS_ALLOW_ORIGIN"] = web_url
    os.environ.update(env)
    # Imported after the environment is set: settings are read once.
    from chalicelib import aws  # noqa: PLC0415
    from infra.tables import TableNames, ensure_tables, stream_arn  # noqa: PLC0415
    from local import backends, status  # noqa: PLC0415
    from local.dynamodb_local import DynamoDBLocalUnavailable, java  # noqa: PLC0415
    from local.stream_worker import StreamWorker  # noqa: PLC0415
    from local.webserver import DemoPageServer  # noqa: PLC0415

    if args.fresh and (data / "dynamodb").exists():
        for path in (data / "dynamodb").iterdir():
            path.unlink()
        (data / "stream-checkpoints.json").unlink(missing_ok=True)
    backend_name = backends.choose(args.backend, java())
    if backend_name == "moto":
        print(backends.MOTO_WARNING, file=sys.stderr, flush=True)
        # moto keeps nothing: checkpoints from an earlier run name records that are gone.
        (data / "stream-checkpoints.json").unlink(missing_ok=True)
    stop = threading.Event()
    database: backends.Backend | None = None
    chalice: subprocess.Popen[bytes] | None = None
    page: DemoPageServer | None = None
    try:
        try:
            _, database = backends.start(backend_name, args.dynamodb_port, data / "dynamodb")
        except DynamoDBLocalUnavailable as error:
            print(f"error: {error}", file=sys.stderr)
            return 1
        client = aws.dynamodb()
        names = TableNames(env["FAVORITES_TABLE"], env["FAVORITE_COUNTS_TABLE"])
        created = ensure_tables(client, names)
        logger.info(
            "%s on %s; tables created: %s",
            backend_name,
            database.endpoint_url,
            created or "none",
        )

        from app import aggregate_favorites  # noqa: PLC0415

        worker = StreamWorker(
            streams=aws.dynamodb_streams(),
            stream_arn=stream_arn(client, names.favorites),
            handler=aggregate_favorites,
            region=env.get("AWS_DEFAULT_REGION", "us-east-1"),
            checkpoint_file=data / "stream-checkpoints.json",
        )
        threading.Thread(target=worker.run, args=(stop,), name="stream-worker", daemon=True).start()
        page = DemoPageServer(args.web_port, api_url).start()

        chalice = _start_chalice(args.port)
        _wait_http(f"{api_url}/public/graphql", chalice)
        print(
            f"\nFavorites service running:\n"
            f"  GraphQL (token):  {api_url}/graphql\n"
            f"  GraphQL (public): {api_url}/public/graphql  (GraphiQL in a browser)\n"
            f"  Demo page:        {web_url}/\n"
            f"  DynamoDB:         {database.endpoint_url}  ({backend_name}, data in {data}/)\n"
            f"Ctrl-C stops everything.\n",
            flush=True,
        )
        running = {
            "pid": os.getpid(),
            "api": api_url,
            "web": web_url,
            "dynamodb": database.endpoint_url,
            "backend": backend_name,
            "tables": {"favorites": names.favorites, "counts": names.counts},
        }
        while chalice.poll() is None:
            worker_stats = dataclasses.asdict(worker.stats)
            status.write(data, {**running, "worker": worker_stats, "updated_at": time.time()})
            stop.wait(0.5)
    except KeyboardInterrupt:
        pass
    finally:
        signal.signal(signal.SIGTERM, signal.SIG_IGN)  # one clean-up, not two
        signal.signal(signal.SIGINT, signal.SIG_IGN)
        stop.set()
        status.path(data).unlink(missing_ok=True)
        if chalice is not None:
            _stop_group(chalice)
        if page is not None:
            page.stop()
        if database is not None:
            database.stop()
        logger.info("stopped")
    return 0


if __name__ == "__main__":
    sys.exit(main())
