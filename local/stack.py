"""The whole service on this machine: ``make run``.

Starts DynamoDB Local (data kept under ``.data/``), creates the tables from
``infra/`` when missing, runs the stream worker that feeds the Favorites stream
to the real ``aggregate_favorites`` handler, and serves the API with
``chalice local`` on 127.0.0.1:8000, stage ``local``. Ctrl-C stops it all.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import signal
import subprocess
import sys
import threading
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

ROOT = Path(__file__).resolve().parents[1]
DATA = ROOT / ".data"
STAGE = "local"

logger = logging.getLogger("local.stack")


def stage_environment(stage: str = STAGE) -> dict[str, str]:
    """The stage's environment variables, as ``chalice local`` will set them."""
    config: dict[str, Any] = json.loads((ROOT / ".chalice" / "config.json").read_text())
    env = dict(config.get("environment_variables", {}))
    env.update(config["stages"][stage].get("environment_variables", {}))
    return env


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--port", type=int, default=8000, help="chalice local port")
    parser.add_argument("--fresh", action="store_true", help="start with empty tables")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s")

    env = stage_environment()
    os.environ.update(env)
    endpoint = urlparse(env["DYNAMODB_ENDPOINT_URL"])
    # Imported after the environment is set: settings are read once.
    from chalicelib import aws  # noqa: PLC0415
    from infra.tables import TableNames, ensure_tables, stream_arn  # noqa: PLC0415
    from local.dynamodb_local import DynamoDBLocal, DynamoDBLocalUnavailable  # noqa: PLC0415
    from local.stream_worker import StreamWorker  # noqa: PLC0415

    if args.fresh and (DATA / "dynamodb").exists():
        for path in (DATA / "dynamodb").iterdir():
            path.unlink()
        (DATA / "stream-checkpoints.json").unlink(missing_ok=True)
    try:
        database = DynamoDBLocal(endpoint.port or 8001, DATA / "dynamodb").start()
    except DynamoDBLocalUnavailable as error:
        print(f"error: {error}", file=sys.stderr)
        return 1
    stop = threading.Event()
    chalice: subprocess.Popen[bytes] | None = None
    try:
        client = aws.dynamodb()
        names = TableNames(env["FAVORITES_TABLE"], env["FAVORITE_COUNTS_TABLE"])
        created = ensure_tables(client, names)
        logger.info(
            "DynamoDB Local on %s; tables created: %s", database.endpoint_url, created or "none"
        )

        from app import aggregate_favorites  # noqa: PLC0415

        worker = StreamWorker(
            streams=aws.dynamodb_streams(),
            stream_arn=stream_arn(client, names.favorites),
            handler=aggregate_favorites,
            region=env.get("AWS_DEFAULT_REGION", "us-east-1"),
            checkpoint_file=DATA / "stream-checkpoints.json",
        )
        threading.Thread(target=worker.run, args=(stop,), name="stream-worker", daemon=True).start()

        chalice_bin = Path(sys.executable).parent / "chalice"
        command = [str(chalice_bin), "local", "--stage", STAGE, "--host", "127.0.0.1"]
        chalice = subprocess.Popen([*command, "--port", str(args.port)], cwd=ROOT)
        print(
            f"\nFavorites service running:\n"
            f"  GraphQL (token):  http://127.0.0.1:{args.port}/graphql\n"
            f"  GraphQL (public): http://127.0.0.1:{args.port}/public/graphql"
            "  (GraphiQL in a browser)\n"
            f"  DynamoDB Local:   {database.endpoint_url}  (data in {DATA.relative_to(ROOT)}/)\n"
            f"Ctrl-C stops everything.\n",
            flush=True,
        )
        signal.signal(signal.SIGTERM, lambda *_: stop.set())
        while not stop.is_set() and chalice.poll() is None:
            stop.wait(0.5)
    except KeyboardInterrupt:
        pass
    finally:
        stop.set()
        if chalice is not None and chalice.poll() is None:
            chalice.terminate()
            try:
                chalice.wait(timeout=10)
            except subprocess.TimeoutExpired:
                chalice.kill()
        database.stop()
        logger.info("stopped")
    return 0


if __name__ == "__main__":
    sys.exit(main())
