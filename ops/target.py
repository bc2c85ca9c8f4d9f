"""Which tables an operator tool acts on: a deployed stage, the running local
stack, or the tables this process's environment names. One definition for every
command in ``ops/``; none of them writes ``os.environ`` (each builds its own
``Services`` from the variables this returns, on top of the process's)."""

from __future__ import annotations

import argparse
from pathlib import Path

from infra import stages


def add_target_arguments(parser: argparse.ArgumentParser) -> None:
    target = parser.add_mutually_exclusive_group()
    target.add_argument("--stage", help="a deployed stage in .chalice/config.json (AWS)")
    target.add_argument(
        "--data-dir", type=Path, default=Path(".data"), help="the local stack's folder"
    )
    target.add_argument(
        "--environment",
        action="store_true",
        help="the tables this process's environment names (Lambda, CI): no stage lookup",
    )


def target_environment(args: argparse.Namespace) -> dict[str, str]:
    """The target's variables (none for --environment): a stage's, or the local stack's."""
    if args.environment:
        return {}
    if args.stage is not None:
        return dict(stages.stage(args.stage).environment)
    return local_environment(args.data_dir)


def local_environment(data_dir: Path) -> dict[str, str]:
    """The running local stack's environment, from its status file; SystemExit when none runs."""
    from local import status  # noqa: PLC0415

    stack = status.read(data_dir)
    if stack is None:
        raise SystemExit(
            f"error: no running local stack in {data_dir}/ (no {status.FILE_NAME}, or its "
            "process is gone): start it with make run, name its folder with --data-dir, "
            "or a deployed stage with --stage"
        )
    env = stages.stage("local").environment
    env["DYNAMODB_ENDPOINT_URL"] = str(stack["dynamodb"])
    env["FAVORITES_TABLE"] = str(stack["tables"]["favorites"])
    env["FAVORITE_COUNTS_TABLE"] = str(stack["tables"]["counts"])
    return env
