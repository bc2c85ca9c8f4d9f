"""Monthly cost from the measured units per event. Prices stated and dated here only."""

from __future__ import annotations

from dataclasses import dataclass

from bench.section import Section

PRICES_AS_OF = "2025 (us-east-1 list prices known to the author; not re-checked from this machine)"
WRITE_REQUEST_UNIT = 0.625 / 1e6  # USD, on-demand, after the Nov 2024 reduction
READ_REQUEST_UNIT = 0.125 / 1e6
LAMBDA_REQUEST = 0.20 / 1e6
LAMBDA_GB_SECOND = 0.0000166667  # x86
API_GATEWAY_REST_REQUEST = 3.50 / 1e6
LAMBDA_MEMORY_GB = 128 / 1024  # Chalice's default memory size
TOP_READS_PER_FAVORITE = 10  # assumption: ten ranking views per favorite event
DAYS_PER_MONTH = 30
# CloudFront, price class of the US, Canada and Europe: HTTPS requests, list price
# as of 2025 (data transfer out and the always-free tier left out, as for the others).
CLOUDFRONT_HTTPS_REQUEST = 0.0100 / 10_000
CLOUDFRONT_PRICE_AS_OF = "2025 list price, US/Europe, not re-checked from this machine"
# Home screen reads per favorite event the read model is priced at (read:write ratios).
READS_PER_FAVORITE = (10, 100, 1000)
READ_MODEL_EVENTS_PER_DAY = 7000
# Assumptions of the edge's hit rate: the share of home screens seen signed out (the
# only ones the edge may keep: a signed-in one carries hearts and is private), and
# how many edge caches that traffic spreads over, each filling on its own.
SIGNED_OUT_SHARE = 0.5
EDGE_CACHES = 10
HOME_ROWS = 20


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
    writes = (
        Line("", 2 + stream_wcu + gsi_wcu, WRITE_REQUEST_UNIT).monthly(READ_MODEL_EVENTS_PER_DAY)
        + Line("", 1, LAMBDA_REQUEST + API_GATEWAY_REST_REQUEST).monthly(READ_MODEL_EVENTS_PER_DAY)
        + Line("", api_seconds * LAMBDA_MEMORY_GB, LAMBDA_GB_SECOND).monthly(
            READ_MODEL_EVENTS_PER_DAY
        )
        # One stream invocation per event at this rate (see above).
        + READ_MODEL_EVENTS_PER_DAY
        * DAYS_PER_MONTH
        * (LAMBDA_REQUEST + trip * LAMBDA_MEMORY_GB * LAMBDA_GB_SECOND)
    )
    section.lines.append("")
    section.lines.extend(read_model(numbers, writes, cache_max_age()))
    return section


def cache_max_age() -> int:
    """The max-age a public answer about the current period gets (the default setting)."""
    from chalicelib.settings import from_env  # noqa: PLC0415

    return from_env({}).cache_max_age


def hit_rate(requests_per_second: float, max_age: int) -> float:
    """An edge cache's hit rate for one URL: each miss starts max_age seconds in which
    every request is a hit, so with Poisson arrivals at rate r a fill serves r*max_age
    requests besides its own: hits / requests = r*T / (1 + r*T)."""
    served = requests_per_second * max_age
    return served / (1 + served)


def per_read(rru: float, milliseconds: float) -> float:
    """What one request the API answers costs: API Gateway, Lambda, DynamoDB reads."""
    return (
        API_GATEWAY_REST_REQUEST
        + LAMBDA_REQUEST
        + milliseconds / 1000 * LAMBDA_MEMORY_GB * LAMBDA_GB_SECOND
        + rru * READ_REQUEST_UNIT
    )


def read_model(numbers: dict[str, float], writes: float, max_age: int) -> list[str]:
    """The month of a home-screen-heavy load: reads per favorite, with and without the edge."""
    rows = HOME_ROWS
    signed_in = per_read(numbers[f"home_after_rru_{rows}"], numbers[f"home_after_ms_{rows}"])
    before = per_read(numbers[f"home_ids_rru_{rows}"], numbers[f"home_before_ms_{rows}"])
    signed_out = per_read(
        numbers[f"home_signed_out_rru_{rows}"], numbers[f"home_signed_out_ms_{rows}"]
    )
    lines = [
        f"Reads: a read is a home screen of {rows} rows (section 7's figures: signed in "
        f"{numbers[f'home_after_rru_{rows}']:.1f} RRU with hearts from the viewer's set, "
        f"{numbers[f'home_ids_rru_{rows}']:.1f} RRU by the BatchGetItem of each id as "
        f"before; signed out {numbers[f'home_signed_out_rru_{rows}']:.1f} RRU). The table "
        f"above prices a read:write ratio of {TOP_READS_PER_FAVORITE}:1 (ten ranking reads "
        f"per favorite); below, the month at {READ_MODEL_EVENTS_PER_DAY:,} favorites a day "
        f"and {', '.join(f'{n:,}' for n in READS_PER_FAVORITE)} reads per favorite, writes "
        f"included (${writes:,.2f} of it). Assumed: {SIGNED_OUT_SHARE:.0%} of reads signed "
        "out; only those may come from the edge (a signed-in screen is `private, no-store`)."
        f" With the edge (CloudFront, ${CLOUDFRONT_HTTPS_REQUEST * 1e6:.2f} per million "
        f"HTTPS requests, {CLOUDFRONT_PRICE_AS_OF}) every read pays that price and only "
        "the misses reach API Gateway, Lambda and DynamoDB.",
        "",
        f"Hit rate, derived: the signed-out home is one URL (a hash-only GET, the same "
        f"variables for all). Its reads spread over {EDGE_CACHES} edge caches (assumed), so "
        f"each sees r = reads/day x {SIGNED_OUT_SHARE} / 86,400 / {EDGE_CACHES} per second; "
        f"with max-age T = {max_age} s (CACHE_MAX_AGE_SECONDS) each fill serves r*T later "
        "requests, a hit rate of r*T / (1 + r*T). stale-while-revalidate does not lower "
        "the origin's load: each revalidation is a request there, and a 304 runs the query "
        "to compute its ETag.",
        "",
    ]
    header = ("reads / favorite", "read:write", "edge hit rate", "before (ids)", "no edge", "edge")
    lines.append("| " + " | ".join(header) + " |")
    lines.append("| " + " | ".join("---" for _ in header) + " |")
    seconds_per_month = 86_400 * DAYS_PER_MONTH
    for ratio in READS_PER_FAVORITE:
        monthly_reads = READ_MODEL_EVENTS_PER_DAY * ratio * DAYS_PER_MONTH
        out, inside = monthly_reads * SIGNED_OUT_SHARE, monthly_reads * (1 - SIGNED_OUT_SHARE)
        hits = hit_rate(out / seconds_per_month / EDGE_CACHES, max_age)
        without = writes + inside * signed_in + out * signed_out
        old = writes + inside * before + out * signed_out
        edge = (
            writes
            + monthly_reads * CLOUDFRONT_HTTPS_REQUEST
            + inside * signed_in
            + out * (1 - hits) * signed_out
        )
        cells = (f"{ratio:,}", f"{ratio:,}:1", f"{hits:.0%}", f"${old:,.2f}", f"${without:,.2f}")
        lines.append("| " + " | ".join((*cells, f"${edge:,.2f}")) + " |")
    return lines
