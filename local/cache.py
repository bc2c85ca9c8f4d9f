"""The local stack's HTTP cache: nginx with the edge's rules, in front of ``chalice local``.

``local/cache.conf`` is rendered into ``<data>/cache/`` and nginx runs on it as
one of the stack's parts: in the foreground, one process, its pid file, logs,
temporary files and cache entries all in that folder, with no global nginx
configuration read or written (``-p``, ``-c``, ``-e``). Debian's ``nginx``
package provides the binary (``make test`` installs it); without it the stack
serves without a cache and says so.
"""

from __future__ import annotations

import os
import shutil
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

TEMPLATE = Path(__file__).with_name("cache.conf")
DEFAULT_PORT = 8003
# Debian installs nginx in /usr/sbin, which a user's PATH often lacks.
SYSTEM_DIRECTORIES = ("/usr/sbin", "/sbin")
INSTALL_HINT = "apt-get install nginx"
TEMP_FOLDERS = ("body", "proxy", "fastcgi", "uwsgi", "scgi")
# nginx's $upstream_cache_status values of a request that made an origin request: in
# the foreground, or (STALE) the background update it starts; UPDATING is served
# stale while another one runs, HIT from the entry.
TO_ORIGIN = frozenset({"MISS", "EXPIRED", "REVALIDATED", "STALE", "BYPASS"})


def logged_statuses(access_log: Path, method: str, marker: str) -> Counter[str]:
    """The ``cache=`` status of each request in ``access_log`` (``local/cache.conf``'s
    ``cache`` format) made with ``method`` on a target that holds ``marker``."""
    statuses: Counter[str] = Counter()
    if not access_log.exists():
        return statuses
    for line in access_log.read_text(errors="replace").splitlines():
        request, _, rest = line.partition('" ')
        words = request.split('"', 1)[-1].split()
        if len(words) == 3 and words[0] == method and marker in words[1]:
            statuses[rest.split("cache=", 1)[1].split()[0]] += 1
    return statuses


def find_nginx(search_path: str | None = None) -> str | None:
    """The nginx binary on ``search_path`` (default: PATH) or in the system folders."""
    path = os.environ.get("PATH", "") if search_path is None else search_path
    return shutil.which("nginx", path=os.pathsep.join([path, *SYSTEM_DIRECTORIES]))


@dataclass(frozen=True)
class Cache:
    """One nginx cache on ``127.0.0.1:port`` for the origin at ``origin`` (``host:port``)."""

    nginx: str
    folder: Path
    port: int
    origin: str

    @property
    def config_path(self) -> Path:
        return self.folder / "nginx.conf"

    @property
    def access_log(self) -> Path:
        return self.folder / "access.log"

    @property
    def error_log(self) -> Path:
        return self.folder / "error.log"

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def config(self) -> str:
        text = TEMPLATE.read_text()
        values = {
            "@PREFIX@": str(self.folder),
            "@PORT@": str(self.port),
            "@ORIGIN@": self.origin,
        }
        for placeholder, value in values.items():
            text = text.replace(placeholder, value)
        return text

    def prepare(self) -> Path:
        """Write the configuration and empty the cache: entries of an earlier run
        may hold answers from data that is gone (``--fresh``)."""
        shutil.rmtree(self.folder / "entries", ignore_errors=True)
        for name in TEMP_FOLDERS:
            (self.folder / "temp" / name).mkdir(parents=True, exist_ok=True)
        self.config_path.write_text(self.config())
        return self.config_path

    def command(self) -> list[str]:
        # -e: the error log before the configuration is read is ours too.
        return [
            self.nginx,
            "-p",
            f"{self.folder}/",
            "-c",
            str(self.config_path),
            "-e",
            str(self.error_log),
        ]
