"""Monthly cost from the measured units per event. Prices stated and dated here only."""

from __future__ import annotations

from dataclasses import dataclass

from bench.sections import Section

PRICES_AS_OF = "2025 (us-east-1 list prices known to the author; not re-checked from this machine)"
WRITE_REQUEST_UNIT = 0.625 / 1e6  # USD, on-demand, after the Nov 2024 reduction
READ_REQUEST_UNIT = 0.125 / 1e6
LAMBDA_REQUEST = 0.20 / 1e6
LAMBDA_GB_SECOND = 0.0000166667  # x86
API_GATEWAY_REST_REQUEST = 3.50 / 1e6
LAMBDA_MEMORY_GB = 128 / 1024  # Chalice's default memory size
TOP_READS_PER_FAVORITE = 10  # assumption: ten ranking views per favorite event
DAYS_PER_MONTH = 30


@dataclass(frozen=True)
class Line:
    item: str
    unit_per_event: float
    price: float

    def monthly(self, events_per_day: float) -> float:
        return self.unit_per_event * events_per_day * DAYS_PER_MONTH * self.price


def cost_model(numbers: dict[str, float], shards: int, size: int) -> Section:
    section = Section("Cost model")
    stream_wcu = numbers["wcu_per_event_uniform"]
    updates = (stream_wcu - 2) / 2  # one marker per event; the rest are count updates
    gsi_wcu = 2 * updates  # a changed index key is a delete and a put in the GSI
    top_rcu = numbers[f"top_rcu_s{shards}_{size}"]
    api_seconds = numbers["api_favorite_ms"] / 1000
    top_seconds = numbers["api_topRestaurants_ms"] / 1000
    trip = numbers["seconds_per_round_trip_uniform"]
    section.lines.append(
        f"Prices ({PRICES_AS_OF}): DynamoDB on-demand ${WRITE_REQUEST_UNIT * 1e6:.3f} per million "
        f"write request units and ${READ_REQUEST_UNIT * 1e6:.3f} per million read request units; "
        f"Lambda ${LAMBDA_REQUEST * 1e6:.2f} per million requests and ${LAMBDA_GB_SECOND} per "
        f"GB-s; API Gateway REST ${API_GATEWAY_REST_REQUEST * 1e6:.2f} per million requests; "
        "stream reads by Lambda are free. Free tiers and storage are left out."
    )
    section.lines.append("")
    section.lines.append(
        f"Units per favorite event, from the figures above: favorites PutItem 1 WRU + by_user "
        f"index 1 WRU; stream handler {stream_wcu:.2f} WRU measured (uniform, the costlier "
        f"workload) + {gsi_wcu:.1f} WRU of by_count index upkeep; {TOP_READS_PER_FAVORITE} "
        f"`topRestaurants` reads per favorite (an assumption) at {top_rcu:.1f} RRU each "
        f"(S={shards}, {size:,} restaurants). Lambda at {LAMBDA_MEMORY_GB * 1024:.0f} MB: the API "
        f"call takes {api_seconds * 1000:.1f} ms (favorite) and {top_seconds * 1000:.1f} ms "
        f"(top); a stream invocation takes one transaction round trip ({trip * 1000:.1f} ms). "
        "At 7,000 events/day each event is its own stream batch; at 100x (8 per second) the "
        "one-second batching window gathers them, so about one stream invocation per second."
    )
    section.lines.append("")
    api_requests = 1 + TOP_READS_PER_FAVORITE
    api_gb_seconds = (api_seconds + TOP_READS_PER_FAVORITE * top_seconds) * LAMBDA_MEMORY_GB
    lines = [
        Line("DynamoDB writes (WRU)", 2 + stream_wcu + gsi_wcu, WRITE_REQUEST_UNIT),
        Line("DynamoDB reads (RRU)", TOP_READS_PER_FAVORITE * top_rcu, READ_REQUEST_UNIT),
        Line("API Lambda requests", api_requests, LAMBDA_REQUEST),
        Line("API Lambda GB-s", api_gb_seconds, LAMBDA_GB_SECOND),
        Line("API Gateway requests", api_requests, API_GATEWAY_REST_REQUEST),
    ]
    section.header("item", "units / event", "7,000 events/day", "700,000 events/day")
    totals = [0.0, 0.0]
    for line in lines:
        low, high = line.monthly(7000), line.monthly(700_000)
        totals[0] += low
        totals[1] += high
        section.row(line.item, f"{line.unit_per_event:.4g}", f"${low:,.2f}", f"${high:,.2f}")
    # Stream invocations do not scale per event: one per batch.
    for label, invocations_low, invocations_high in (
        ("stream Lambda requests", 7000.0, 86_400.0),
        ("stream Lambda GB-s", 7000 * trip * LAMBDA_MEMORY_GB, 86_400 * trip * LAMBDA_MEMORY_GB),
    ):
        price = LAMBDA_REQUEST if "requests" in label else LAMBDA_GB_SECOND
        low = invocations_low * DAYS_PER_MONTH * price
        high = invocations_high * DAYS_PER_MONTH * price
        totals[0] += low
        totals[1] += high
        section.row(label, "per batch", f"${low:,.2f}", f"${high:,.2f}")
    section.row("**total per month**", "", f"**${totals[0]:,.2f}**", f"**${totals[1]:,.2f}**")
    section.numbers["monthly_low"] = totals[0]
    section.numbers["monthly_high"] = totals[1]
    return section
