"""A threaded HTTP server that bounds its connection threads.

Both local servers (chalice local's API and the demo page) use it: each
connection takes a slot, at most ``max_connections`` at once, so slow or
stalled clients cannot pile up threads; the handlers' timeouts close the
stalled ones. What happens to a connection past the cap is the subclass's
choice (``admit``): wait in the listen queue, or be refused.
"""

from __future__ import annotations

import logging
import sys
import threading
from http.server import ThreadingHTTPServer
from typing import Any

logger = logging.getLogger("local.bounded")


class BoundedHTTPServer(ThreadingHTTPServer):
    max_connections = 64
    # socketserver's default backlog of 5 makes a burst of clients wait on SYN
    # retries before the server even sees them.
    request_queue_size = 128

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        self._slots = threading.BoundedSemaphore(self.max_connections)
        super().__init__(*args, **kwargs)

    def admit(self, request: Any) -> bool:
        """Take a slot for ``request``; by default, wait for one."""
        self._slots.acquire()
        return True

    def process_request(self, request: Any, client_address: Any) -> None:
        if not self.admit(request):
            return
        try:
            super().process_request(request, client_address)  # starts its thread
        except BaseException:
            self._slots.release()
            raise

    def process_request_thread(self, request: Any, client_address: Any) -> None:
        try:
            super().process_request_thread(request, client_address)
        finally:
            self._slots.release()

    def handle_error(self, request: Any, client_address: Any) -> None:
        error = sys.exc_info()[1]
        if isinstance(error, TimeoutError | ConnectionError):
            # A client that stalled or went away: one line, not a traceback.
            logger.info("closed the connection of %s: %s", client_address, error or "timed out")
            return
        super().handle_error(request, client_address)
