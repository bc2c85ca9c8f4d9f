"""Which DynamoDB endpoint the local stack runs: DynamoDB Local, or moto's server without Java."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Protocol

from local.dynamodb_local import DynamoDBLocal, java

MOTO_WARNING = """\
WARNING: Java is missing, so the local stack runs moto's DynamoDB server instead of
DynamoDB Local (AWS's own engine). Install Java 17 (apt-get install openjdk-17-jre-headless)
for the real thing. What differs with moto:
  - data lives in memory only: nothing is kept under the data folder between runs;
  - streams are moto's: a put that leaves an item unchanged still emits a MODIFY
    record (the handler skips MODIFY, so counts are the same), and record timing
    and shard layout are not DynamoDB's;
  - transactions (TransactWriteItems) are moto's model: no conflicts between
    concurrent transactions, and cancellation reasons may differ from DynamoDB's.
Everything else (API, stream worker, counts, demo page) works the same."""


class Backend(Protocol):
    """A DynamoDB endpoint the stack can start and stop."""

    @property
    def endpoint_url(self) -> str: ...

    def stop(self) -> None: ...


class MotoServer:
    """moto's DynamoDB and DynamoDB Streams on 127.0.0.1, in this process (a thread)."""

    def __init__(self, port: int) -> None:
        from moto.server import ThreadedMotoServer  # noqa: PLC0415 (dev dependency, on demand)

        self.port = port
        self._server = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)

    @property
    def endpoint_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> MotoServer:
        # One access-log line per request would drown the stack's own output.
        logging.getLogger("werkzeug").setLevel(logging.WARNING)
        self._server.start()
        return self

    def stop(self) -> None:
        self._server.stop()


def choose(requested: str, java_path: str | None) -> str:
    """``dynamodb-local`` or ``moto``: ``auto`` takes DynamoDB Local whenever Java is there."""
    if requested == "auto":
        return "dynamodb-local" if java_path else "moto"
    return requested


def start(requested: str, port: int, data_dir: Path) -> tuple[str, Backend]:
    """Start the chosen backend; ``data_dir`` is where DynamoDB Local keeps its files."""
    name = choose(requested, java())
    if name == "moto":
        return name, MotoServer(port).start()
    return name, DynamoDBLocal(port, data_dir).start()
