"""One cold start, in a fresh process: ``python bench/coldstart_child.py MODE EVENT_FILE``.

Prints the seconds from before the first import of the code under test to the
end of its first invocation, as JSON. Run as a script (not ``-m bench...``) so
that nothing of the bench is imported before the clock starts.
"""

from __future__ import annotations

import json
import sys
import time
from typing import Any


def bare(event: dict[str, Any]) -> Any:
    # The baseline: a bare Chalice app that imports boto3 and makes one client.
    import boto3  # noqa: PLC0415
    from chalice.app import Chalice  # noqa: PLC0415

    app = Chalice(app_name="bare")
    client = boto3.client("dynamodb")

    @app.route("/bare")
    def index() -> dict[str, Any]:
        return {"tables": client.list_tables()["TableNames"]}

    return app(event, None)


def stream(event: dict[str, Any]) -> Any:
    import app  # noqa: PLC0415

    return app.aggregate_favorites(event, None)


def graphql(event: dict[str, Any]) -> Any:
    import app  # noqa: PLC0415

    return app.app(event, None)


def main() -> None:
    mode, event_file = sys.argv[1], sys.argv[2]
    with open(event_file) as handle:
        event = json.load(handle)
    start = time.perf_counter()
    result = {"bare": bare, "stream": stream, "graphql": graphql}[mode](event)
    elapsed = time.perf_counter() - start
    print(json.dumps({"seconds": elapsed, "result": result}, default=str))


if __name__ == "__main__":
    main()
