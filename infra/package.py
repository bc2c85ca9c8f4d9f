"""``make package STAGE=dev``: the stage's CloudFormation template and deployment zip.

Writes ``dist/<stage>-merge-template.json`` (infra/template.py), then
``dist/<stage>/``: ``sam.json`` and ``deployment.zip`` (``chalice package
--merge-template``) and ``transformed.json``, the plain CloudFormation that the
SAM transform makes of ``sam.json`` (what CloudFormation will really create).
Checks the stream handler's timeout against its retry budget, makes the zip
start fast as shipped (``infra/shipped_zip.py``: bytecode for the template's
runtime, nothing no function loads), validates both templates with cfn-lint and
prints what the zip holds. Nothing here talks to AWS; chalice downloads the
dependencies' wheels with pip the first time (cached in .chalice/deployments/).
"""

from __future__ import annotations

import argparse
import copy
import json
import os
import shutil
import subprocess
import sys
import zipfile
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from chalicelib.settings import from_env
from infra import template as merge
from infra.shipped_zip import (
    ShipError,
    ShipReport,
    check_imports_kept,
    runtime_of,
    ship_zip,
    strip_byte_code,
)
from infra.stages import DEPLOYABLE_STAGES, ROOT, stage

DIST = ROOT / "dist"
# Templates are region-neutral (${AWS::Region}); tools that insist get this one.
REGION = "us-east-1"
BIN = Path(sys.executable).parent
# Only what chalice needs; the caller's AWS_*, STAGE or table variables must
# never leak into a template (the region only fills placeholder ARNs that the
# merge template replaces with the stack's own).
_PASSED_ENV = ("PATH", "HOME", "LANG", "LC_ALL", "TMPDIR", "PIP_INDEX_URL", "PIP_CONFIG_FILE")


class PackageError(RuntimeError):
    pass


@dataclass
class Package:
    stage: str
    directory: Path
    report: ShipReport | None = None

    @property
    def template_path(self) -> Path:
        return self.directory / "sam.json"

    @property
    def zip_path(self) -> Path:
        return self.directory / "deployment.zip"

    @property
    def transformed_path(self) -> Path:
        return self.directory / "transformed.json"

    def transformed(self) -> dict[str, Any]:
        return dict(json.loads(self.transformed_path.read_text()))

    @property
    def merge_template_path(self) -> Path:
        return self.directory.parent / f"{self.stage}-merge-template.json"

    def template(self) -> dict[str, Any]:
        return dict(json.loads(self.template_path.read_text()))


def _function_env(function: dict[str, Any]) -> dict[str, str]:
    variables = function["Properties"].get("Environment", {}).get("Variables", {})
    return {key: value for key, value in variables.items() if isinstance(value, str)}


def check_stream_timeout(template: dict[str, Any]) -> None:
    function = template["Resources"][merge.STREAM_FUNCTION]
    events = function["Properties"]["Events"][merge.STREAM_EVENT_SOURCE]["Properties"]
    # The budget as the function will read it, defaults included.
    budget = from_env(_function_env(function)).write_budget_seconds
    floor = merge.stream_timeout_floor(int(events["BatchSize"]), budget)
    timeout = int(function["Properties"]["Timeout"])
    if timeout < floor:
        raise PackageError(
            f"aggregate_favorites lambda_timeout is {timeout}s but a batch may need {floor}s "
            f"(WRITE_BUDGET_SECONDS={budget:g}); raise it in .chalice/config.json"
        )


def sam_transform(template: dict[str, Any]) -> dict[str, Any]:
    """Expand the SAM resources offline, as CloudFormation's transform will.

    cfn-lint only checks SAM resources against a schema; the translator
    rejects what CloudFormation would (an unknown event type, a bad property)
    and shows the real event source mapping, stage and permissions.
    """
    import boto3  # noqa: PLC0415
    from samtranslator.parser.parser import Parser  # noqa: PLC0415
    from samtranslator.public.exceptions import InvalidDocumentException  # noqa: PLC0415
    from samtranslator.translator.translator import Translator  # noqa: PLC0415

    document = copy.deepcopy(template)
    for resource in document["Resources"].values():
        if resource["Type"] == "AWS::Serverless::Function":
            # `aws cloudformation package` puts the uploaded zip here.
            resource["Properties"]["CodeUri"] = "s3://deployment-bucket/deployment.zip"
    # A session with a region and no credentials: the translator only needs
    # the region for pseudo parameters. Managed policies are looked up only for
    # a function's `Policies`; ours use roles, so the map stays empty.
    translator = Translator({}, Parser(), boto_session=boto3.session.Session(region_name=REGION))
    try:
        return dict(translator.translate(document, parameter_values={}))
    except InvalidDocumentException as error:
        causes = "\n".join(str(cause) for cause in error.causes)
        raise PackageError(f"the SAM transform rejects the template:\n{causes}") from error


def lint(path: Path) -> None:
    result = subprocess.run(
        [str(BIN / "cfn-lint"), str(path)], capture_output=True, text=True, check=False
    )
    if result.returncode != 0:
        raise PackageError(f"cfn-lint rejected {path}:\n{result.stdout}{result.stderr}")


def zip_report(path: Path, top: int = 8) -> str:
    sizes: Counter[str] = Counter()
    with zipfile.ZipFile(path) as archive:
        infos = archive.infolist()
        for info in infos:
            name = info.filename.split("/", 1)[0]
            # dist-info belongs to its package; fold it in.
            sizes[name.split("-", 1)[0] if name.endswith(".dist-info") else name] += (
                info.compress_size
            )
        unzipped = sum(info.file_size for info in infos)
    shown = path.relative_to(ROOT) if path.is_relative_to(ROOT) else path
    lines = [
        f"{shown}: {path.stat().st_size / 1e6:.1f} MB zipped, "
        f"{unzipped / 1e6:.1f} MB unzipped (Lambda limits: 50 MB / 250 MB)",
        "largest packages (zipped):",
    ]
    lines += [f"  {size / 1e6:7.2f} MB  {name}" for name, size in sizes.most_common(top)]
    return "\n".join(lines)


def chalice_package(
    project: Path, stage_name: str, output: Path, merge_template: Path | None = None
) -> None:
    """``chalice package`` of ``project``: ``output/sam.json`` and ``deployment.zip``."""
    env = {key: os.environ[key] for key in _PASSED_ENV if key in os.environ}
    env["AWS_DEFAULT_REGION"] = REGION
    merge_args = ["--merge-template", str(merge_template)] if merge_template else []
    chalice = subprocess.run(
        [str(BIN / "chalice"), "package", "--stage", stage_name, *merge_args, str(output)],
        cwd=project,
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )
    if chalice.returncode != 0:
        raise PackageError(f"chalice package failed:\n{chalice.stdout}{chalice.stderr}")


def package(
    stage_name: str, dist: Path = DIST, *, ship: bool = True, tracing_backend: str | None = None
) -> Package:
    """Build and check the stage's package; ``ship=False`` keeps chalice's zip
    as it was before :func:`ship_zip` (the benchmark's "before"). The zip carries
    the stage's tracing backend; ``tracing_backend`` says another (the benchmark's)."""
    stage_config = stage(stage_name)
    backend = tracing_backend or from_env(stage_config.environment).tracing_backend
    result = Package(stage_name, dist / stage_name)
    shutil.rmtree(result.directory, ignore_errors=True)
    merge.write_merge_template(stage_config, result.merge_template_path)
    if ship:
        # Before the slow part: a wrong interpreter or a dropped import fails fast.
        check_imports_kept(ROOT, backend)
    chalice_package(ROOT, stage_name, result.directory, result.merge_template_path)
    if ship:
        result.report = ship_zip(result.zip_path, runtime_of(result.template()), backend)
    else:
        strip_byte_code(result.zip_path)
    check_stream_timeout(result.template())
    result.transformed_path.write_text(json.dumps(sam_transform(result.template()), indent=2))
    lint(result.template_path)
    lint(result.transformed_path)
    return result


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--stage", required=True, choices=DEPLOYABLE_STAGES)
    args = parser.parse_args(argv)
    try:
        result = package(args.stage)
    except (PackageError, ShipError) as error:
        print(error, file=sys.stderr)
        return 1
    print(f"{result.template_path.relative_to(ROOT)}: valid (SAM transform, cfn-lint)")
    if result.report is not None:
        print(result.report.text())
    print(zip_report(result.zip_path))
    return 0


if __name__ == "__main__":
    sys.exit(main())
