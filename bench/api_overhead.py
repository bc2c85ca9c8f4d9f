"""Section 4: what GraphQL adds to a request, against bare routes making the same calls."""

from __future__ import annotations

import json
from collections import defaultdict
from functools import partial
from typing import TYPE_CHECKING

from bench import baselines
from bench.dynamo import COUNTS_TABLE, FAVORITES_TABLE, batch_put, fresh_tables
from bench.section import FAVORITE_MUTATION, ROOT, TOP_QUERY, Section, x, zipf_count_items
from bench.stats import figure, percentile, timed
from local.tokens import token

if TYPE_CHECKING:
    from mypy_boto3_dynamodb import DynamoDBClient


def api_overhead(client: DynamoDBClient, shards: int, requests: int, rounds: int) -> Section:
    from chalice.test import Client  # noqa: PLC0415

    from app import app, services  # noqa: PLC0415 (serving the bench's: bench/dynamo.py)

    section = Section("4. API overhead")
    fresh_tables(client)
    batch_put(client, COUNTS_TABLE, zipf_count_items(range(1000), "ALL", shards))
    bare = baselines.bare_app(
        services().dynamodb, FAVORITES_TABLE, lambda: services().rankings().top("ALL", 10)
    )
    headers = {"Content-Type": "application/json", "Authorization": token("bench-user")}
    serial = iter(range(10**9))

    def graphql_favorite(test: Client) -> None:
        body = json.dumps({"query": FAVORITE_MUTATION, "variables": {"id": f"f{next(serial)}"}})
        response = test.http.post("/graphql", headers=headers, body=body)
        assert json.loads(response.body) == {"data": {"favorite": {"changed": True}}}

    def graphql_top(test: Client) -> None:
        body = json.dumps({"query": TOP_QUERY})
        response = test.http.post("/public/graphql", headers=headers, body=body)
        assert len(json.loads(response.body)["data"]["topRestaurants"]["edges"]) == 10

    def bare_favorite(test: Client) -> None:
        assert test.http.post(f"/favorite/b{next(serial)}/bench-user").status_code == 200

    def bare_top(test: Client) -> None:
        assert test.http.get("/top").status_code == 200

    cases = {
        ("favorite", "GraphQL"): graphql_favorite,
        ("favorite", "bare route"): bare_favorite,
        ("topRestaurants", "GraphQL"): graphql_top,
        ("topRestaurants", "bare route"): bare_top,
    }
    latencies: dict[tuple[str, str], list[float]] = defaultdict(list)
    throughput: dict[tuple[str, str], list[float]] = defaultdict(list)
    with (
        Client(app, stage_name="local", project_dir=str(ROOT)) as graphql_client,
        Client(bare, stage_name="local", project_dir=str(ROOT)) as bare_client,
    ):
        for case, call in cases.items():  # warm each path once: cold start is section 1
            call(graphql_client if case[1] == "GraphQL" else bare_client)
        for _ in range(rounds):
            # Request by request, every case in turn: a burst of load from elsewhere
            # on the machine then slows GraphQL and its baseline alike.
            this_round: dict[tuple[str, str], list[float]] = defaultdict(list)
            for _ in range(requests):
                for case, call in cases.items():
                    test = graphql_client if case[1] == "GraphQL" else bare_client
                    this_round[case].append(timed(partial(call, test)))
            for case, taken in this_round.items():
                latencies[case].extend(taken)
                throughput[case].append(requests / sum(taken))
    section.lines.append(
        f"In process through Chalice's test client, {rounds} rounds of {requests} sequential "
        "requests per case, the cases taking turns request by request; req/s is per round "
        "(median and spread), p50/p99 over all requests. The bare routes make the same "
        "DynamoDB calls."
    )
    section.lines.append("")
    section.header(
        "operation", "route", "req/s", "p50", "p99", "GraphQL / bare (p50)", "GraphQL share"
    )
    for operation in ("favorite", "topRestaurants"):
        for route in ("GraphQL", "bare route"):
            samples = latencies[(operation, route)]
            p50 = percentile(samples, 50) * 1000
            extra = ["", ""]
            if route == "GraphQL":
                bare_p50 = percentile(latencies[(operation, "bare route")], 50) * 1000
                extra = [x(p50 / bare_p50), f"{(p50 - bare_p50) / p50:.0%} of p50"]
                section.numbers[f"api_{operation}_ms"] = p50
            section.row(
                operation,
                route,
                figure(throughput[(operation, route)], "req/s").text(0),
                f"{p50:.2f} ms",
                f"{percentile(samples, 99) * 1000:.2f} ms",
                *extra,
            )
    return section
