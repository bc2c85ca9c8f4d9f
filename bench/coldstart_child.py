"""One cold start, in a fresh process, from an unpacked deployment zip.

    python -I -S [-B] bench/coldstart_child.py MODE FOLDER EVENT_FILE

Run with ``-I -S`` (no site-packages, no script directory on ``sys.path``),
the child puts FOLDER first on ``sys.path``, as Lambda puts /var/task, and
prints the seconds from before the first import of the app to the end of its
first invocation, as JSON: elapsed, and the CPU time this process spent (on a
shared machine, elapsed time also counts the waits for a free core). Nothing
of the bench or the project is importable.
"""

from __future__ import annotations

import json
import sys
import time
from typing import Any


def invoke(mode: str, event: dict[str, Any]) -> Any:
    import app  # noqa: PLC0415 (the app of FOLDER: the service's or the bare one)

    if mode == "stream":
        return app.aggregate_favorites(event, None)
    return app.app(event, None)  # "graphql" and "bare": an API Gateway event


def main() -> None:
    mode, folder, event_file = sys.argv[1:4]
    with open(event_file) as handle:
        event = json.load(handle)
    sys.path.insert(0, folder)
    start, cpu = time.perf_counter(), time.process_time()
    result = invoke(mode, event)
    elapsed, cpu = time.perf_counter() - start, time.process_time() - cpu
    print(json.dumps({"seconds": elapsed, "cpu": cpu, "result": result}, default=str))


if __name__ == "__main__":
    main()
