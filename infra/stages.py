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


@dataclass(frozen=True)
class Operations:
    """What a deployed stage promises its operators; infra/alarms.py, infra/logs.py
    and the API stage in infra/template.py are built from it (README: Operating
    it in AWS)."""

    # Every log group of the stack: functions and API access logs.
    log_retention_days: int
    # The API stage's steady rate (requests/s) and burst (token bucket size).
    api_rate_limit: float
    api_burst_limit: int
    # The stream function's IteratorAge alarm: records this old are not yet counted.
    iterator_age_alarm_seconds: int
    # API 5XX answers in five minutes that raise the alarm.
    api_5xx_alarm_count: int


OPERATIONS = {
    "dev": Operations(
        log_retention_days=14,
        api_rate_limit=50,
        api_burst_limit=100,
        iterator_age_alarm_seconds=600,
        api_5xx_alarm_count=1,
    ),
    "prod": Operations(
        log_retention_days=90,
        api_rate_limit=1000,
        api_burst_limit=2000,
        iterator_age_alarm_seconds=120,
        api_5xx_alarm_count=5,
    ),
}


@dataclass(frozen=True)
class Edge:
    """The CloudFront distribution in front of the API stage (infra/edge.py;
    README: The edge)."""

    # Whether a new stack gets it; ``make deploy EDGE=false`` turns it off later.
    enabled: bool
    # The longest an answer stays cached, whatever max-age the API sends.
    max_ttl_seconds: int
    # CloudFront's price class: which edge locations serve (100: North America and Europe).
    price_class: str


EDGE = {
    "dev": Edge(enabled=True, max_ttl_seconds=24 * 3600, price_class="PriceClass_100"),
    "prod": Edge(enabled=True, max_ttl_seconds=24 * 3600, price_class="PriceClass_All"),
}


def camel(function: str) -> str:
    """A function's name as the stack's logical ids spell it: ``reconcile_counts``
    -> ``ReconcileCounts``."""
    return "".join(part.title() for part in function.split("_"))


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

    @property
    def documents_table(self) -> str:
        return self.environment["PERSISTED_DOCUMENTS_TABLE"]

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

    def reserved_concurrency(self, function: str) -> int | None:
        value = self._chalice(function).reserved_concurrency
        return None if value is None else int(value)

    @property
    def api_gateway_stage(self) -> str:
        return str(self._chalice(API_HANDLER).api_gateway_stage)

    @property
    def api_name(self) -> str:
        # The REST API's name, and so the ApiName dimension of its metrics:
        # per stage, so dev and prod in one account are told apart.
        return f"{self.app_name}-{self.name}"

    @property
    def operations(self) -> Operations:
        return OPERATIONS[self.name]

    @property
    def edge(self) -> Edge:
        return EDGE[self.name]

    @property
    def failure_queue_name(self) -> str:
        return f"{self.app_name}-{self.name}-stream-failures"

    @property
    def erasure_queue_name(self) -> str:
        # What chalicelib.settings defaults ERASURE_QUEUE to for the stage.
        return f"{self.app_name}-{self.name}-erasures"

    @property
    def erasure_dead_letter_queue_name(self) -> str:
        return f"{self.app_name}-{self.name}-erasures-dead-letters"


def stage(name: str) -> Stage:
    data = config()
    if name not in data["stages"]:
        raise ValueError(f"no stage {name!r} in .chalice/config.json")
    environment = dict(data.get("environment_variables", {}))
    environment.update(data["stages"][name].get("environment_variables", {}))
    return Stage(name, data["app_name"], environment, tuple(data["lambda_functions"]))
