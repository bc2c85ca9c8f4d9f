"""The six measurements of issue #6: report lines, and the numbers the cost model uses."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import tempfile
import threading
import time
from collections import defaultdict
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path
from typing import TYPE_CHECKING, Any

from bench import baselines, shipped
from bench.dynamo import (
    COUNTS_TABLE,
    FAVORITES_TABLE,
    batch_put,
    bench_environment,
    fresh_tables,
)
from bench.stats import Figure, figure, percentile, ratio, timed
from bench.workloads import ZIPF_EXPONENT, hot_bucket_hour, stream_batches
from chalicelib.settings import TRACING_BACKENDS, from_env
from devtools.calls import counting
from devtools.events import stream_record
from devtools.xray_daemon import XRayDaemon
from infra.stages import stage
from local.tokens import token

if TYPE_CHECKING:
    from mypy_boto3_dynamodb import DynamoDBClient

ROOT = Path(__file__).resolve().parents[1]
STREAM_ARN = f"arn:aws:dynamodb:us-east-1:000000000000:table/{FAVORITES_TABLE}/stream/bench"
TOP_QUERY = "{ topRestaurants(first: 10) { edges { rank favoriteCount node { id } } } }"
FAVORITE_MUTATION = "mutation F($id: ID!) { favorite(restaurantId: $id) { changed } }"


@dataclass
class Section:
    title: str
    lines: list[str] = field(default_factory=list)
    numbers: dict[str, float] = field(default_factory=dict)

    def row(self, *cells: object) -> None:
        self.lines.append("| " + " | ".join(str(cell) for cell in cells) + " |")

    def header(self, *cells: str) -> None:
        self.row(*cells)
        self.row(*("---" for _ in cells))


def x(value: float) -> str:
    return f"{value:.2f}x"


# 1. Cold start -------------------------------------------------------------


def api_event(path: str, body: str | None, method: str = "POST") -> dict[str, Any]:
    """An API Gateway proxy event, as Lambda hands it to the Chalice app."""
    return {
        "resource": path,
        "path": path,
        "httpMethod": method,
        "headers": {"Content-Type": "application/json"},
        "multiValueQueryStringParameters": None,
        "pathParameters": None,
        "stageVariables": None,
        "requestContext": {"resourcePath": path, "httpMethod": method, "stage": "api"},
        "body": body,
        "isBase64Encoded": False,
    }


def _import_profile(folder: Path, statement: str, env: dict[str, str]) -> dict[str, float]:
    """Self import time per top-level package, in ms, from ``python -X importtime``."""
    output = subprocess.run(
        [
            sys.executable,
            "-I",
            "-S",
            "-B",
            "-X",
            "importtime",
            "-c",
            f"import sys; sys.path.insert(0, {str(folder)!r}); {statement}",
        ],
        env=env,
        cwd=folder,
        capture_output=True,
        text=True,
        check=True,
    ).stderr
    totals: dict[str, float] = defaultdict(float)
    for line in output.splitlines():
        match = re.match(r"import time:\s+(\d+) \|\s+\d+ \|\s*(\S+)", line)
        if match:
            totals[match[2].split(".")[0]] += int(match[1]) / 1000
    return dict(totals)


# (zip, how): the four ways each app is started. "shipped" is the zip unpacked
# read-only, as Lambda runs it; "warm" the same files in a writable copy
# whose bytecode Python wrote itself on an unmeasured first run.
VARIANTS = (("after", "shipped"), ("after", "warm"), ("before", "shipped"), ("before", "warm"))
MODES = ("bare", "stream", "graphql")
IMPORTS = {"stream": "import app", "graphql": "import app, chalicelib.api.view"}
Start = tuple[str, str, str]  # (zip, how, mode)
# The stage's tracing backend (its zip is "after") and the other one, whose zip
# (the same stage packaged with it) is "other". "traced-<backend>": the zip
# started read-only as Lambda starts it with active tracing.
TRACING = from_env(stage(shipped.STAGE).environment).tracing_backend
OTHER_TRACING = next(backend for backend in TRACING_BACKENDS if backend != TRACING)
TRACED_MODES = ("stream", "graphql")
TRACED = tuple(
    (which, how, mode)
    for mode in TRACED_MODES
    for which, how in (
        ("after", f"traced-{TRACING}"),
        ("other", "shipped"),
        ("other", f"traced-{OTHER_TRACING}"),
    )
)
# The spans a traced start must send at least: its path's span and a DynamoDB call.
MIN_SPANS = 2


@dataclass
class ColdStarts:
    """What one cold start section measured, in ms per (zip, how, mode)."""

    inside: dict[Start, Figure]
    cpu: dict[Start, Figure]
    whole: dict[Start, Figure]
    sizes: dict[tuple[str, str], float]  # MB per (zip, app)
    profiles: dict[str, dict[str, float]]
    origin: str
    spans: dict[Start, list[int]]  # per traced start: the spans the daemon received


def _start_event(mode: str, run: int) -> dict[str, Any]:
    if mode == "stream":
        # A new event id each time: a replayed one would take the duplicate path.
        record = stream_record("INSERT", f"cold{run}", "u", None)
        record["eventSourceARN"] = STREAM_ARN
        return {"Records": [record]}
    if mode == "bare":
        return api_event("/bare", None, "GET")
    return api_event("/public/graphql", json.dumps({"query": TOP_QUERY}))


def _lambda_tracing(
    env: dict[str, str], folder: Path, backend: str, daemon: XRayDaemon, start: int
) -> tuple[dict[str, str], str]:
    """What Lambda adds to a function's environment with active tracing, and the trace id."""
    root = f"1-{int(time.time()):08x}-{start:024x}"
    traced = {key: value for key, value in env.items() if key != "TRACING_ENABLED"}
    return {
        **traced,
        "AWS_LAMBDA_FUNCTION_NAME": "favorites-bench",
        "LAMBDA_TASK_ROOT": str(folder),
        "_X_AMZN_TRACE_ID": f"Root={root};Parent={start:016x};Sampled=1",
        "AWS_XRAY_DAEMON_ADDRESS": daemon.address,
        "TRACING_BACKEND": backend,
    }, root


def _start(
    folder: Path,
    mode: str,
    run: int,
    env: dict[str, str],
    *,
    read_only: bool,
    tracing: tuple[str, XRayDaemon, int] | None = None,
) -> tuple[float, float, float, int]:
    """One cold start in a fresh ``python -I -S``, in s: import + first call (elapsed,
    CPU), whole process (elapsed); and the spans it sent, with ``tracing`` (backend,
    daemon, a number for the start's own trace id)."""
    root = None
    if tracing is not None:
        env, root = _lambda_tracing(env, folder, tracing[0], tracing[1], tracing[2])
    with tempfile.NamedTemporaryFile("w", suffix=".json") as event:
        event.write(json.dumps(_start_event(mode, run)))
        event.flush()
        # -B where the folder stands for Lambda's read-only /var/task: root
        # ignores the mode bits, and a bytecode cache written on one start
        # would warm the next.
        flags = ["-I", "-S", *(["-B"] if read_only else [])]
        command = [sys.executable, *flags, str(ROOT / "bench" / "coldstart_child.py")]
        began = time.perf_counter()
        done = subprocess.run(
            [*command, mode, str(folder), event.name],
            env=env,
            cwd=folder,
            capture_output=True,
            check=False,
        )
        wall = time.perf_counter() - began
    if done.returncode != 0:
        raise RuntimeError(f"cold start of {mode} in {folder} failed:\n{done.stderr.decode()}")
    # The last line: with Lambda's environment the app also logs to stdout.
    result = json.loads(done.stdout.splitlines()[-1])
    if mode == "stream":
        assert result["result"] == {"batchItemFailures": []}, result
    else:
        assert result["result"]["statusCode"] == 200, result
        assert "errors" not in result["result"]["body"], result
    spans = 0
    if tracing is not None and root is not None:
        spans = len(tracing[1].wait_for(root, MIN_SPANS))
        if spans < MIN_SPANS:
            raise RuntimeError(
                f"traced cold start of {mode} in {folder} ({tracing[0]}): "
                f"{spans} spans reached the daemon, expected {MIN_SPANS} or more"
            )
    return float(result["seconds"]), float(result["cpu"]), wall, spans


def _measure_cold_starts(env: dict[str, str], runs: int) -> ColdStarts:
    inside: dict[Start, list[float]] = defaultdict(list)
    cpu: dict[Start, list[float]] = defaultdict(list)
    whole: dict[Start, list[float]] = defaultdict(list)
    spans: dict[Start, list[int]] = defaultdict(list)
    with tempfile.TemporaryDirectory() as scratch, XRayDaemon() as daemon:
        root = Path(scratch)
        service = shipped.service_zips(root / "dist", other_tracing=OTHER_TRACING)
        assert service.other_tracing is not None
        bare = shipped.bare_zips(root / "dist")
        zips = {
            ("after", "service"): service.shipped,
            ("before", "service"): service.before,
            ("after", "bare"): bare.shipped,
            ("before", "bare"): bare.before,
            ("other", "service"): service.other_tracing,
        }
        folders: dict[Start, Path] = {}
        starts = [(which, how, mode) for (which, how) in VARIANTS for mode in MODES]
        for which, how, mode in [*starts, *TRACED]:
            app_kind = "bare" if mode == "bare" else "service"
            read_only = how != "warm"
            folder = root / f"{which}-{'shipped' if read_only else 'warm'}-{app_kind}"
            if not folder.exists():
                shipped.unpack(zips[which, app_kind], folder, read_only=read_only)
            folders[which, how, mode] = folder
        starts_made = 0

        def start(key: Start, run: int) -> tuple[float, float, float, int]:
            nonlocal starts_made
            starts_made += 1
            how = key[1]
            tracing = (how.removeprefix("traced-"), daemon, starts_made)
            return _start(
                folders[key],
                key[2],
                run,
                env,
                read_only=how != "warm",
                tracing=tracing if how.startswith("traced-") else None,
            )

        try:
            # One unmeasured start of each: writes the warm copies' bytecode,
            # and brings every folder into the file cache alike.
            for key in folders:
                start(key, -1)
            for run in range(runs):
                for key in folders:  # interleaved: noise hits all alike
                    seconds, used, wall, sent = start(key, run)
                    inside[key].append(seconds * 1000)
                    cpu[key].append(used * 1000)
                    whole[key].append(wall * 1000)
                    if key[1].startswith("traced-"):
                        spans[key].append(sent)
            profiled = folders["after", "shipped", "stream"]
            profiles = {
                mode: _import_profile(profiled, imports, env) for mode, imports in IMPORTS.items()
            }
        finally:
            for folder in set(folders.values()):
                shipped.make_writable(folder)
        return ColdStarts(
            inside={key: figure(values, "ms") for key, values in inside.items()},
            cpu={key: figure(values, "ms") for key, values in cpu.items()},
            whole={key: figure(values, "ms") for key, values in whole.items()},
            sizes={key: path.stat().st_size / 1e6 for key, path in zips.items()},
            profiles=profiles,
            origin=service.origin,
            spans=dict(spans),
        )


def cold_start(client: DynamoDBClient, endpoint: str, runs: int) -> Section:
    section = Section("1. Cold start, as shipped")
    fresh_tables(client)
    env = {
        **os.environ,
        **bench_environment(endpoint),
        "AWS_ENDPOINT_URL_DYNAMODB": endpoint,  # the bare app's client
        "AWS_CONFIG_FILE": os.devnull,
        "AWS_SHARED_CREDENTIALS_FILE": os.devnull,
    }
    measured = _measure_cold_starts(env, runs)
    fig, cpu, sizes = measured.inside, measured.cpu, measured.sizes
    section.lines += [
        f"Stage `{shipped.STAGE}`: {measured.origin}. 'before' is the same stage packaged the "
        "old way (chalice's zip: every SDK model, no bytecode). The bare app (bench/baselines.py "
        "`BARE_APP`: Chalice, boto3, one DynamoDB call) is packaged by chalice the same two "
        "ways. Each zip is unpacked into a folder and started by `python -I -S` with nothing "
        "but the standard library and that folder on `sys.path`, as Lambda starts /var/task. "
        "'as shipped': the folder is read-only and Python runs with `-B` (root ignores mode "
        "bits), so, as on Lambda, only the zip's own bytecode can be used. 'warm bytecode': "
        "the same files in a writable copy without the shipped bytecode, after one unmeasured "
        "start wrote Python's own cache.",
        "",
        f"Fresh processes, {runs} runs of each of the {len(VARIANTS) * len(MODES) + len(TRACED)} "
        "starts, interleaved, after one "
        "unmeasured start of each. 'import + first call' is timed inside the process from "
        "before the first import of the app to the end of its first invocation (one DynamoDB "
        "call against DynamoDB Local); 'whole process' adds interpreter start and exit "
        "(elapsed).",
        "",
    ]
    section.header("zip", "size", "target")
    after_mb = sizes["after", "service"]
    section.row("service, after", f"{after_mb:.1f} MB", f"<= 6 MB: {_met(after_mb, 6)}")
    section.row("service, before", f"{sizes['before', 'service']:.1f} MB", "-")
    section.row(
        f"service, after, with {OTHER_TRACING} (not shipped)",
        f"{sizes['other', 'service']:.1f} MB",
        "-",
    )
    section.row("bare app, after", f"{sizes['after', 'bare']:.1f} MB", "-")
    section.row("bare app, before", f"{sizes['before', 'bare']:.1f} MB", "-")
    section.numbers["zip_mb"] = after_mb
    section.lines += [
        "",
        "Import + first call, as shipped against warm bytecode (the same files). Targets "
        "are judged on the CPU time of the process: on this shared machine the elapsed "
        "time also counts waits for a free core, which have nothing to do with the code; "
        "elapsed times are shown beside them.",
        "",
    ]
    section.header(
        "zip",
        "path",
        "as shipped, CPU",
        "warm bytecode, CPU",
        "ratio",
        "target",
        "as shipped, elapsed",
        "warm bytecode, elapsed",
        "ratio",
    )
    for which in ("after", "before"):
        for mode in MODES:
            shipped_key, warm_key = (which, "shipped", mode), (which, "warm", mode)
            value = ratio(cpu[shipped_key], cpu[warm_key])
            target = 1.25 if which == "after" and mode != "bare" else None
            section.row(
                which,
                mode,
                cpu[shipped_key].text(),
                cpu[warm_key].text(),
                x(value),
                "-" if target is None else f"<= {target}x: {_met(value, target)}",
                fig[shipped_key].text(),
                fig[warm_key].text(),
                x(ratio(fig[shipped_key], fig[warm_key])),
            )
            section.numbers[f"cold_{which}_{mode}_shipped_vs_warm"] = value
    section.lines += [
        "",
        "Import + first call as shipped, against the bare app packaged the same way:",
        "",
    ]
    section.header(
        "zip",
        "path",
        "CPU",
        "ratio to bare",
        "target",
        "elapsed",
        "ratio to bare",
        "whole process",
    )
    targets = {"bare": None, "stream": 1.3, "graphql": 2.5}
    for which in ("after", "before"):
        bare = (which, "shipped", "bare")
        for mode in MODES:
            key = (which, "shipped", mode)
            value = ratio(cpu[key], cpu[bare])
            target = targets[mode] if which == "after" else None
            section.row(
                which,
                mode,
                cpu[key].text(),
                x(value),
                "-" if target is None else f"<= {target}x: {_met(value, target)}",
                fig[key].text(),
                x(ratio(fig[key], fig[bare])),
                measured.whole[key].text(),
            )
            if which == "after":
                section.numbers[f"cold_{mode}_ratio"] = value
                section.numbers[f"cold_{mode}_ms"] = fig[key].median
    _traced_table(section, measured)
    section.lines += [
        "",
        "Top imports of the shipped zip, read-only (self time summed per top-level package, "
        "`-X importtime`):",
        "",
    ]
    for mode, imports in IMPORTS.items():
        profile = measured.profiles[mode]
        top = sorted(profile.items(), key=lambda kv: -kv[1])[:6]
        listed = ", ".join(f"{name} {ms:.0f} ms" for name, ms in top)
        section.lines.append(f"- {mode} (`{imports}`, {sum(profile.values()):.0f} ms): {listed}")
    return section


def _traced_table(section: Section, measured: ColdStarts) -> None:
    """Tracing on against off, per backend, each on the zip that carries it."""
    cpu, fig = measured.cpu, measured.inside
    section.lines += [
        "",
        "Tracing on, as Lambda starts a function with active tracing: `AWS_LAMBDA_FUNCTION_NAME`, "
        "`LAMBDA_TASK_ROOT`, a trace header (`_X_AMZN_TRACE_ID`) and `AWS_XRAY_DAEMON_ADDRESS` "
        "pointing at a UDP listener of the bench (devtools/xray_daemon.py), which decodes what "
        f"arrives: each traced start must send at least {MIN_SPANS} spans of its own trace (its "
        "path's span and the DynamoDB call), or the bench fails. The zip carries one tracing "
        f"backend (infra/package.py): `{TRACING}` is the stage's (the shipped zip, 'after'); "
        f"`{OTHER_TRACING}` runs on the same stage packaged with it ('other'). Each backend is "
        "compared with its own zip started with tracing off (`TRACING_ENABLED=false`), read-only "
        "as shipped; the target is at most 1.15x.",
        "",
    ]
    section.header(
        "zip",
        "path",
        "tracing",
        "CPU",
        "ratio to off",
        "target",
        "CPU ratio to bare",
        "elapsed",
        "spans per start",
    )
    bare = cpu["after", "shipped", "bare"]
    for mode in TRACED_MODES:
        for which, backend in (("after", TRACING), ("other", OTHER_TRACING)):
            off, on = (which, "shipped", mode), (which, f"traced-{backend}", mode)
            value = ratio(cpu[on], cpu[off])
            sent = measured.spans[on]
            for key, tracing, shown in ((off, "off", "-"), (on, backend, x(value))):
                section.row(
                    which,
                    mode,
                    tracing,
                    cpu[key].text(),
                    shown,
                    "-" if key == off else f"<= 1.15x: {_met(value, 1.15)}",
                    x(ratio(cpu[key], bare)),
                    fig[key].text(),
                    "-" if key == off else f"{min(sent)}..{max(sent)}",
                )
            section.numbers[f"cold_{mode}_tracing_{backend}_ratio"] = value


def _met(value: float, target: float) -> str:
    return "met" if value <= target else "MISSED"


# 2. Aggregation cost -------------------------------------------------------


def _all_counts(client: DynamoDBClient, table: str) -> dict[str, int]:
    counts: dict[str, int] = {}
    scan: dict[str, Any] = {"TableName": table}
    while True:
        page = client.scan(**scan)
        for item in page.get("Items", []):
            if item["bucket"]["S"] == "ALL" and "favorite_count" in item:
                counts[item["restaurant_id"]["S"]] = int(item["favorite_count"]["N"])
        if "LastEvaluatedKey" not in page:
            return counts
        scan["ExclusiveStartKey"] = page["LastEvaluatedKey"]


def aggregation(client: DynamoDBClient, runs: int, batches: int) -> Section:
    import app  # noqa: PLC0415 (serving the bench's services: bench/dynamo.py)
    from chalicelib.stream.handler import handle_stream_batch  # noqa: PLC0415
    from infra.tables import TableNames  # noqa: PLC0415

    section = Section("2. Aggregation cost")
    naive_table = "favorite-counts-naive"
    writer = app.services().counts_writer()
    section.lines.append(
        f"{batches} Lambda batches of 100 INSERT records per run, {runs} runs per workload, "
        "10,000 restaurants; both handlers get the same batches in the same process, the "
        "naive one writing to a twin table. Write units: 2 per transactional action per KB; "
        "every item written here is under 1 KB, so 2 per action."
    )
    section.lines.append("")
    section.header(
        "workload",
        "handler",
        "WCU / event",
        "round trips / 100 records",
        "records / s",
        "ours vs naive (records/s)",
    )
    for name, zipf in (("uniform", None), (f"Zipf({ZIPF_EXPONENT})", ZIPF_EXPONENT)):
        fresh_tables(client)
        fresh_tables(client, TableNames("favorites-naive", naive_table))
        rates: dict[str, list[float]] = defaultdict(list)
        units: dict[str, list[float]] = defaultdict(list)
        trips: dict[str, list[float]] = defaultdict(list)
        for run in range(runs):
            work = stream_batches(
                batches=batches,
                size=100,
                restaurants=10_000,
                zipf=zipf,
                stream_arn=STREAM_ARN,
                seed=run + 100,
            )
            records = batches * 100

            def ours(work: list[list[dict[str, Any]]] = work) -> None:
                for batch in work:
                    response = handle_stream_batch(batch, writer, FAVORITES_TABLE)
                    assert response == {"batchItemFailures": []}, response

            def naive(work: list[list[dict[str, Any]]] = work) -> None:
                for batch in work:
                    baselines.naive_handle(batch, client, naive_table)

            for label, call in (("ours", ours), ("naive", naive)):
                with counting(client, read_units=True) as counter:
                    seconds = timed(call)
                rates[label].append(records / seconds)
                units[label].append(2 * counter.actions / records)
                trips[label].append(counter.round_trips / batches)
        # Same counts either way: the comparison is of two correct handlers.
        assert _all_counts(client, COUNTS_TABLE) == _all_counts(client, naive_table)
        rate = {label: figure(values, "rec/s") for label, values in rates.items()}
        for label in ("ours", "naive"):
            section.row(
                name,
                label,
                figure(units[label], "WCU").text(2),
                figure(trips[label], "").text(1),
                rate[label].text(0),
                x(ratio(rate["ours"], rate["naive"])) if label == "ours" else "",
            )
        key = "zipf" if zipf else "uniform"
        section.numbers[f"wcu_per_event_{key}"] = figure(units["ours"], "").median
        section.numbers[f"naive_wcu_per_event_{key}"] = figure(units["naive"], "").median
        section.numbers[f"seconds_per_round_trip_{key}"] = 1 / (
            rate["ours"].median / 100 * figure(trips["ours"], "").median
        )
    section.lines.append("")
    section.lines.append(
        "The naive handler writes no exactly-once markers: a redelivered batch counts twice. "
        "Ours pays one marker (2 WCU) per event for that guarantee and wins back the "
        "difference only where coalescing merges updates (hot restaurants)."
    )
    return section


# 3. Ranking reads ----------------------------------------------------------


def _count_items(restaurants: range, bucket: str, shards: int) -> list[dict[str, Any]]:
    from devtools.items import count_items  # noqa: PLC0415

    # Popularity falls off like Zipf: a few clear leaders, a long tail of ties.
    counts = {f"r{index:06d}": max(1, int(100_000 / (index + 1) ** 1.1)) for index in restaurants}
    return count_items(bucket, counts, shards)


def ranking_reads(client: DynamoDBClient, sizes: list[int], runs: int, scan_runs: int) -> Section:
    from chalicelib.rankings import RankingStore  # noqa: PLC0415

    section = Section("3. Ranking reads")
    fresh_tables(client)
    series = {1: "ALL", 16: "MONTH#2026-11"}  # one bucket per shard count, same restaurants
    section.lines.append(
        "`topRestaurants(first: 10)` through `RankingStore.top` (the resolver's call), "
        f"{runs} calls per point; scan-and-sort reads the whole counts table "
        f"({scan_runs} runs per point). The table holds every restaurant in two buckets "
        "(ALL at S=1, MONTH at S=16), as a live table holds several buckets. Read units "
        "are DynamoDB Local's ConsumedCapacity (eventually consistent)."
    )
    section.lines.append("")
    section.header(
        "restaurants",
        "method",
        "items read / call",
        "RCU / call",
        "round trips",
        "latency",
        "scan / top latency",
    )
    loaded = 0
    load_seconds = 0.0
    for size in sizes:
        start = time.perf_counter()
        for shards, bucket in series.items():
            batch_put(client, COUNTS_TABLE, _count_items(range(loaded, size), bucket, shards))
        load_seconds += time.perf_counter() - start
        loaded = size
        expected = baselines.scan_top(client, COUNTS_TABLE, "ALL", 10)
        top_latency: dict[int, Figure] = {}
        for shards, bucket in series.items():
            store = RankingStore(client, COUNTS_TABLE, shards)
            answer = [(r.restaurant_id, r.favorite_count) for r in store.top(bucket, 10)]
            assert answer == expected, (shards, answer, expected)
            with counting(client, read_units=True) as counter:
                latencies = [timed(partial(store.top, bucket, 10)) * 1000 for _ in range(runs)]
            top_latency[shards] = figure(latencies, "ms")
            section.row(
                f"{size:,}",
                f"top, S={shards}",
                f"{counter.items_read / runs:.0f}",
                f"{counter.read_units / runs:.1f}",
                f"{counter.round_trips / runs:.0f}",
                top_latency[shards].text(2),
                "",
            )
            section.numbers[f"top_rcu_s{shards}_{size}"] = counter.read_units / runs
            section.numbers[f"top_ms_s{shards}_{size}"] = top_latency[shards].median
        with counting(client, read_units=True) as counter:
            scans = [
                timed(lambda: baselines.scan_top(client, COUNTS_TABLE, "ALL", 10)) * 1000
                for _ in range(scan_runs)
            ]
        scan = figure(scans, "ms")
        section.row(
            f"{size:,}",
            "scan + sort",
            f"{counter.items_read / scan_runs:.0f}",
            f"{counter.read_units / scan_runs:.1f}",
            f"{counter.round_trips / scan_runs:.0f}",
            scan.text(1),
            f"{x(ratio(scan, top_latency[1]))} (S=1), {x(ratio(scan, top_latency[16]))} (S=16)",
        )
    _tie_heavy_point(client, section, runs)
    section.lines.append("")
    section.lines.append(
        f"Loading {loaded * 2:,} items with threaded BatchWriteItem took {load_seconds:.0f} s."
        f" The tie-heavy rows rank a day bucket of {TIE_HEAVY_TIES:,} restaurants at count 1"
        " below three leaders, with every tie read and with the default RANKING_TIE_READ_LIMIT."
    )
    return section


TIE_HEAVY_TIES = 3000


def _tie_heavy_point(client: DynamoDBClient, section: Section, runs: int) -> None:
    """top(10) where the 10th row falls inside thousands of ties, at S=1."""
    from chalicelib.rankings import RankingStore  # noqa: PLC0415
    from chalicelib.settings import DEFAULT_RANKING_TIE_READ_LIMIT  # noqa: PLC0415
    from devtools.items import count_items  # noqa: PLC0415

    bucket = "DAY#2026-11-23"
    counts = {f"t{index:06d}": 1 for index in range(TIE_HEAVY_TIES)} | {"a": 9, "b": 8, "c": 7}
    batch_put(client, COUNTS_TABLE, count_items(bucket, counts))
    for label, limit in (("every tie", 10**6), ("limit", DEFAULT_RANKING_TIE_READ_LIMIT)):
        store = RankingStore(client, COUNTS_TABLE, 1, tie_read_limit=limit)
        answer = [r.favorite_count for r in store.top(bucket, 10)]
        assert answer == [9, 8, 7] + [1] * 7, answer
        with counting(client, read_units=True) as counter:
            latencies = [timed(partial(store.top, bucket, 10)) * 1000 for _ in range(runs)]
        section.row(
            f"{len(counts):,} (tie-heavy)",
            f"top, S=1, {label}" + (f" {limit:,}" if label == "limit" else ""),
            f"{counter.items_read / runs:.0f}",
            f"{counter.read_units / runs:.1f}",
            f"{counter.round_trips / runs:.0f}",
            figure(latencies, "ms").text(2),
            "",
        )
        section.numbers[f"top_ties_items_{label.replace(' ', '_')}"] = counter.items_read / runs


# 3b. Ranking pages past 100 -------------------------------------------------

PAGE_DEPTHS = [0, 1_000, 10_000]


def _page_counts(size: int) -> dict[str, int]:
    # Zipf-like like section 3, scaled so that runs of ties stay short (tens of
    # restaurants near depth 10,000), as in a busy month.
    return {f"p{index:06d}": max(1, int(10_000_000 / (index + 1) ** 1.1)) for index in range(size)}


def ranking_pages(client: DynamoDBClient, depths: list[int], runs: int) -> Section:
    """A 100-row page of ``topRestaurants(after:)`` at several depths, against reading
    the index from the top down to the page."""
    from chalicelib.rankings import RankedRestaurant, RankingStore  # noqa: PLC0415
    from devtools.items import count_items  # noqa: PLC0415

    section = Section("3b. Ranking pages past 100")
    first = 100
    # Enough rows below the deepest page for every one of 16 shards to fill it.
    counts = _page_counts(max(depths) + 20 * first)
    order = sorted(counts, key=lambda r: (-counts[r], r))
    series = {1: "MONTH#2026-10", 16: "MONTH#2026-09"}
    for shards, bucket in series.items():
        batch_put(client, COUNTS_TABLE, count_items(bucket, counts, shards))
    section.lines.append(
        f"`topRestaurants(first: {first}, after: <cursor of row N>)` through "
        f"`RankingStore.page` (the resolver's call), {runs} calls per point, on a month of "
        f"{len(counts):,} ranked restaurants (Zipf-like counts, short runs of ties). "
        '"From the top" is paging by offset: the index read from its top down past the '
        "page (S=1). Items read are the index items DynamoDB evaluated (ScannedCount)."
    )
    section.lines.append("")
    section.header(
        "depth (rows above)",
        "method",
        "items read / page",
        "RCU / page",
        "round trips",
        "latency",
        "from the top / cursor",
    )

    def cursor_at(depth: int, shards: int) -> str | None:
        if not depth:
            return None
        row = RankedRestaurant(depth, order[depth - 1], counts[order[depth - 1]])
        return RankingStore(client, COUNTS_TABLE, shards).cursor(row, series[shards])

    # Warm up every point first: right after the load DynamoDB Local is still busy,
    # which would weigh on whichever point is measured first.
    for _ in range(3):
        for depth in depths:
            for shards, bucket in series.items():
                RankingStore(client, COUNTS_TABLE, shards).page(
                    bucket, first, cursor_at(depth, shards)
                )
            baselines.page_from_the_top(client, COUNTS_TABLE, f"{series[1]}#0", depth, first)
    for depth in depths:
        expected = [(r, counts[r]) for r in order[depth : depth + first]]
        cursor_latency: Figure | None = None
        for shards, bucket in series.items():
            store = RankingStore(client, COUNTS_TABLE, shards)
            after = cursor_at(depth, shards)
            page = store.page(bucket, first, after)
            assert [(r.restaurant_id, r.favorite_count) for r in page] == expected, (depth, shards)
            assert page[0].rank == depth + 1
            with counting(client, read_units=True) as counter:
                latencies = [
                    timed(partial(store.page, bucket, first, after)) * 1000 for _ in range(runs)
                ]
            latency = figure(latencies, "ms")
            if shards == 1:
                cursor_latency = latency
            section.row(
                f"{depth:,}",
                f"cursor, S={shards}",
                f"{counter.items_read / runs:.0f}",
                f"{counter.read_units / runs:.1f}",
                f"{counter.round_trips / runs:.0f}",
                latency.text(2),
                "",
            )
            section.numbers[f"page_items_s{shards}_{depth}"] = counter.items_read / runs
            section.numbers[f"page_ms_s{shards}_{depth}"] = latency.median
        partition = f"{series[1]}#0"
        answer = baselines.page_from_the_top(client, COUNTS_TABLE, partition, depth, first)
        assert answer == expected, depth
        with counting(client, read_units=True) as counter:
            latencies = [
                timed(
                    partial(
                        baselines.page_from_the_top, client, COUNTS_TABLE, partition, depth, first
                    )
                )
                * 1000
                for _ in range(runs)
            ]
        offset = figure(latencies, "ms")
        assert cursor_latency is not None
        section.row(
            f"{depth:,}",
            "from the top, S=1",
            f"{counter.items_read / runs:.0f}",
            f"{counter.read_units / runs:.1f}",
            f"{counter.round_trips / runs:.0f}",
            offset.text(2),
            x(ratio(offset, cursor_latency)),
        )
        section.numbers[f"page_offset_items_{depth}"] = counter.items_read / runs
    section.lines.append("")
    section.lines.append(
        "A page after a cursor reads the rest of the cursor's run of ties, then its own rows"
        " and one more (per shard): the same at every depth. Read units are DynamoDB Local's"
        " ConsumedCapacity (eventually consistent)."
    )
    return section


# 4. API overhead -----------------------------------------------------------


def api_overhead(client: DynamoDBClient, shards: int, requests: int, rounds: int) -> Section:
    from chalice.test import Client  # noqa: PLC0415

    from app import app, services  # noqa: PLC0415 (serving the bench's: bench/dynamo.py)

    section = Section("4. API overhead")
    fresh_tables(client)
    batch_put(client, COUNTS_TABLE, _count_items(range(1000), "ALL", shards))
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


# 5. Freshness --------------------------------------------------------------


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


# 6. Hot bucket -------------------------------------------------------------


def _hour(args: tuple[int, float | None]) -> tuple[int, float]:
    return hot_bucket_hour(args[0], args[1])


def hot_bucket(shard_counts: list[int]) -> Section:
    section = Section("6. Hot bucket")
    configs = [(s, z) for s in shard_counts for z in (None, ZIPF_EXPONENT)]
    with ProcessPoolExecutor(max_workers=2) as pool:
        results = dict(zip(configs, pool.map(_hour, configs), strict=True))
    section.lines.append(
        "A simulated hour of 1,000 favorites/s (3.6 million events, 10,000 restaurants) in "
        "Lambda batches of 100, through the handler's own chunk planning and "
        "`CountsWriter.actions`; every `Update` is one write to the `rank_partition` it "
        "names. Pure: no database. One run per configuration (the workload is seeded and "
        "3,600 seconds are its samples); the limit is 1,000 writes/s per partition."
    )
    section.lines.append("")
    section.header(
        "shards", "workload", "max writes/s, one partition", "mean per partition", "< 1,000/s"
    )
    for (shards, zipf), (peak, mean) in results.items():
        name = "uniform" if zipf is None else f"Zipf({zipf})"
        section.row(shards, name, f"{peak:,}", f"{mean:.0f}", "yes" if peak < 1000 else "NO")
        section.numbers[f"hot_s{shards}_{'zipf' if zipf else 'uniform'}"] = peak
    return section
