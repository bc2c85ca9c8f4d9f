"""Per-stage facts read from ``.chalice/config.json`` (the one place they are written).

Deployment tooling needs the same table names, function names, sizes and
policy files that Chalice uses for a stage; reading them here (through
Chalice's own lookup, so stage and function overrides resolve as Chalice
resolves them) keeps them spelled once.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from chalice.config import Config

ROOT = Path(__file__).resolve().parents[1]
CHALICE_DIR = ROOT / ".chalice"
DEPLOYABLE_STAGES = ("dev", "prod")
# Chalice's name for the function behind the REST API.
API_HANDLER = "api_handler"


def config() -> dict[str, Any]:
    return dict(json.loads((CHALICE_DIR / "config.json").read_text()))


@dataclass(frozen=True)
class Stage:
    name: str
    app_name: str
    environment: dict[str, str]
    # Every Lambda function of the app, as config.json's lambda_functions lists them.
    functions: tuple[str, ...]

    @property
    def favorites_table(self) -> str:
        return self.environment["FAVORITES_TABLE"]

    @property
    def counts_table(self) -> str:
        return self.environment["FAVORITE_COUNTS_TABLE"]

    def _chalice(self, function: str) -> Any:
        return Config(chalice_stage=self.name, function_name=function, config_from_disk=config())

    def function_name(self, function: str) -> str:
        # The names `chalice deploy` gives; the template uses them too, so the
        # policies' log groups are the same on both deploy paths.
        if function == API_HANDLER:
            return f"{self.app_name}-{self.name}"
        return f"{self.app_name}-{self.name}-{function}"

    def policy_file(self, function: str) -> Path:
        # Chalice's own fallback when a function names no file.
        name = self._chalice(function).iam_policy_file or f"policy-{self.name}.json"
        return CHALICE_DIR / str(name)

    def policy(self, function: str) -> dict[str, Any]:
        return dict(json.loads(self.policy_file(function).read_text()))

    def timeout(self, function: str) -> int:
        return int(self._chalice(function).lambda_timeout)

    def memory_size(self, function: str) -> int:
        return int(self._chalice(function).lambda_memory_size)

    @property
    def failure_queue_name(self) -> str:
        return f"{self.app_name}-{self.name}-stream-failures"


def stage(name: str) -> Stage:
    data = config()
    if name not in data["stages"]:
        raise ValueError(f"no stage {name!r} in .chalice/config.json")
    environment = dict(data.get("environment_variables", {}))
    environment.update(data["stages"][name].get("environment_variables", {}))
    return Stage(name, data["app_name"], environment, tuple(data["lambda_functions"]))
