"""Section 1: cold start of the deployment zip as Lambda runs it, with tracing
on and off for each tracing backend."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import tempfile
import time
from collections import defaultdict
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from bench import shipped
from bench.dynamo import bench_environment, fresh_tables
from bench.section import ROOT, STREAM_ARN, TOP_QUERY, Section, x
from bench.stats import Figure, figure, ratio
from chalicelib.settings import TRACING_BACKENDS, from_env
from devtools.events import stream_record
from devtools.xray_daemon import XRayDaemon
from infra.stages import stage

if TYPE_CHECKING:
    from mypy_boto3_dynamodb import DynamoDBClient


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
