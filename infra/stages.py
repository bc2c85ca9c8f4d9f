"""Per-stage facts read from ``.chalice/config.json`` (the one place they are written).

Deployment tooling needs the same table names, function names and policy file
that Chalice uses for a stage; reading them here keeps them spelled once.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
CHALICE_DIR = ROOT / ".chalice"
DEPLOYABLE_STAGES = ("dev", "prod")


def config() -> dict[str, Any]:
    return dict(json.loads((CHALICE_DIR / "config.json").read_text()))


@dataclass(frozen=True)
class Stage:
    name: str
    app_name: str
    environment: dict[str, str]
    policy_file: Path

    @property
    def favorites_table(self) -> str:
        return self.environment["FAVORITES_TABLE"]

    @property
    def counts_table(self) -> str:
        return self.environment["FAVORITE_COUNTS_TABLE"]

    @property
    def api_function_name(self) -> str:
        # The names `chalice deploy` gives; the template uses them too, so the
        # policy's log groups are the same on both deploy paths.
        return f"{self.app_name}-{self.name}"

    @property
    def stream_function_name(self) -> str:
        return f"{self.app_name}-{self.name}-aggregate_favorites"

    @property
    def failure_queue_name(self) -> str:
        return f"{self.app_name}-{self.name}-stream-failures"

    def policy(self) -> dict[str, Any]:
        return dict(json.loads(self.policy_file.read_text()))


def stage(name: str) -> Stage:
    data = config()
    if name not in data["stages"]:
        raise ValueError(f"no stage {name!r} in .chalice/config.json")
    stage_config = data["stages"][name]
    environment = dict(data.get("environment_variables", {}))
    environment.update(stage_config.get("environment_variables", {}))
    policy_name = stage_config.get("iam_policy_file", f"policy-{name}.json")
    return Stage(name, data["app_name"], environment, CHALICE_DIR / policy_name)
