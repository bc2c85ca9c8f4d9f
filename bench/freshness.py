"""Section 5: how long a favorite takes to show in the ranking, on the local stack's pieces."""

from __future__ import annotations

import json
import threading
import time
from typing import TYPE_CHECKING

from bench.dynamo import FAVORITES_TABLE, fresh_tables
from bench.section import FAVORITE_MUTATION, ROOT, TOP_QUERY, Section
from bench.stats import percentile
from local.tokens import token

if TYPE_CHECKING:
    from mypy_boto3_dynamodb import DynamoDBClient


def freshness(client: DynamoDBClient, mutations: int) -> Section:
    from chalice.test import Client  # noqa: PLC0415

    from app import aggregate_favorites, app, services  # noqa: PLC0415
    from chalicelib import aws  # noqa: PLC0415
    from infra.tables import stream_arn  # noqa: PLC0415
    from local.stream_worker import StreamWorker  # noqa: PLC0415

    section = Section("5. Freshness")
    fresh_tables(client)
    worker = StreamWorker(
        streams=aws.dynamodb_streams(services().settings),
        stream_arn=stream_arn(client, FAVORITES_TABLE),
        handler=aggregate_favorites,
    )
    stop = threading.Event()
    thread = threading.Thread(target=worker.run, args=(stop,), daemon=True)
    thread.start()
    delays: list[float] = []
    try:
        with Client(app, stage_name="local", project_dir=str(ROOT)) as test:
            for index in range(1, mutations + 1):
                headers = {"Content-Type": "application/json", "Authorization": token(f"u{index}")}
                body = json.dumps({"query": FAVORITE_MUTATION, "variables": {"id": "fresh"}})
                test.http.post("/graphql", headers=headers, body=body)
                answered = time.perf_counter()
                while True:
                    response = test.http.post(
                        "/public/graphql", headers=headers, body=json.dumps({"query": TOP_QUERY})
                    )
                    rows = json.loads(response.body)["data"]["topRestaurants"]["edges"]
                    if rows and rows[0]["favoriteCount"] >= index:
                        break
                    if time.perf_counter() - answered > 30:
                        raise TimeoutError("a favorite did not show up within 30 s")
                delays.append((time.perf_counter() - answered) * 1000)
    finally:
        stop.set()
        thread.join(timeout=10)
    section.lines.append(
        f"{mutations} `favorite` mutations, one at a time, on the local stack's pieces in one "
        "process: DynamoDB Local, its stream, the stream worker (polling as the local stack "
        f"does, {worker.batching_window:.1f} s between empty polls) and the real handler; "
        "after each response, `topRestaurants` is asked until it shows the new count."
    )
    section.lines.append("")
    section.header("p50", "p95", "max")
    section.row(
        f"{percentile(delays, 50):.0f} ms",
        f"{percentile(delays, 95):.0f} ms",
        f"{max(delays):.0f} ms",
    )
    section.lines.append("")
    section.lines.append(
        "In AWS the figure is set by Lambda's stream polling (about four polls a second per "
        "shard) and the event source's `maximum_batching_window_in_seconds=1`, not by this code."
    )
    return section
