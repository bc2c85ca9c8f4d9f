"""The one place that reads the environment.

Chalice sets these per stage from ``.chalice/config.json``; the local stack
hands them to its children, command lines add a stage's on top of their own
(:func:`from_environment`), and tests build settings from mappings.
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from dataclasses import dataclass

_NAMESPACE = re.compile(r"[0-9A-Za-z.\-_/#:]{1,255}")
_ORIGIN = re.compile(r"https?://[A-Za-z0-9.-]+(:[0-9]{1,5})?")

# Good enough for local and test stages only: anyone who reads this can forge cursors.
DEV_CURSOR_SECRET = "local-development-cursor-secret"

# Items one ranking shard reads for the ties at a top-k boundary (see rankings.py).
DEFAULT_RANKING_TIE_READ_LIMIT = 1000


class SettingsError(ValueError):
    """A setting is present but unusable; the message names it."""


@dataclass(frozen=True)
class Settings:
    stage: str
    region: str | None
    favorites_table: str
    counts_table: str
    favorites_stream_arn: str
    cognito_user_pool_arn: str
    dynamodb_endpoint_url: str | None
    ranking_shards: int
    ranking_tie_read_limit: int
    day_bucket_retention_days: int
    marker_ttl_seconds: int
    graphiql: bool
    # Browser origins allowed to call the API (CORS); empty: same origin only.
    cors_allow_origins: tuple[str, ...]
    write_budget_seconds: float
    tracing: bool
    log_level: str
    reconcile_segments: int
    # Abuse limits for the GraphQL routes (see SECURITY.md).
    max_query_depth: int
    max_aliases: int
    max_tokens: int
    max_batch_operations: int  # 0: batching off, a JSON array is a 400
    max_body_bytes: int
    # Signs pagination cursors. The default is public: set CURSOR_SECRET per deployed stage.
    cursor_secret: str
    # CloudWatch namespace of the service's own metrics (EMF); the dimension is the stage.
    metrics_namespace: str

    @property
    def uses_dev_cursor_secret(self) -> bool:
        return self.cursor_secret == DEV_CURSOR_SECRET

    @property
    def is_local_endpoint(self) -> bool:
        return self.dynamodb_endpoint_url is not None


def _int(env: Mapping[str, str], name: str, default: int, low: int, high: int) -> int:
    raw = env.get(name)
    if raw is None or raw == "":
        return default
    try:
        value = int(raw)
    except ValueError:
        raise SettingsError(f"{name} must be an integer, got {raw!r}") from None
    if not low <= value <= high:
        raise SettingsError(f"{name} must be between {low} and {high}, got {value}")
    return value


def _bool(env: Mapping[str, str], name: str, default: bool) -> bool:
    raw = env.get(name)
    if raw is None or raw == "":
        return default
    if raw.lower() in ("1", "true", "yes", "on"):
        return True
    if raw.lower() in ("0", "false", "no", "off"):
        return False
    raise SettingsError(f"{name} must be true or false, got {raw!r}")


def _origins(env: Mapping[str, str], name: str) -> tuple[str, ...]:
    origins = tuple(item.strip() for item in (env.get(name) or "").split(",") if item.strip())
    # Explicit origins only: a wildcard would hand the signed-in API to any page.
    for origin in origins:
        if not _ORIGIN.fullmatch(origin):
            raise SettingsError(
                f"{name} must be origins like https://app.example.com, comma-separated;"
                f" {origin!r} is not one"
            )
    return tuple(dict.fromkeys(origins))


def _log_level(env: Mapping[str, str]) -> str:
    raw = (env.get("LOG_LEVEL") or "INFO").upper()
    if raw not in ("DEBUG", "INFO", "WARNING", "ERROR"):
        raise SettingsError(f"LOG_LEVEL must be DEBUG, INFO, WARNING or ERROR, got {raw!r}")
    return raw


def _namespace(env: Mapping[str, str]) -> str:
    raw = env.get("METRICS_NAMESPACE") or "Favorites"
    # CloudWatch's rule: 1 to 255 of these characters, and not starting with AWS/.
    if not _NAMESPACE.fullmatch(raw) or raw.startswith("AWS/"):
        raise SettingsError(f"METRICS_NAMESPACE must be a CloudWatch namespace, got {raw!r}")
    return raw


def from_env(env: Mapping[str, str]) -> Settings:
    stage = env.get("STAGE", "local")
    # Unset: boto3 finds the region itself (AWS config files), as the CLI does.
    region = env.get("AWS_REGION") or env.get("AWS_DEFAULT_REGION") or None
    arn_region = region or "us-east-1"
    favorites_table = env.get("FAVORITES_TABLE", f"favorites-{stage}")
    return Settings(
        stage=stage,
        region=region,
        favorites_table=favorites_table,
        counts_table=env.get("FAVORITE_COUNTS_TABLE", f"favorite-counts-{stage}"),
        favorites_stream_arn=env.get(
            "FAVORITES_STREAM_ARN",
            f"arn:aws:dynamodb:{arn_region}:000000000000:table/{favorites_table}/stream/local",
        ),
        cognito_user_pool_arn=env.get(
            "COGNITO_USER_POOL_ARN",
            f"arn:aws:cognito-idp:{arn_region}:000000000000:userpool/{arn_region}_local",
        ),
        dynamodb_endpoint_url=env.get("DYNAMODB_ENDPOINT_URL") or None,
        ranking_shards=_int(env, "RANKING_SHARDS", 1, 1, 256),
        ranking_tie_read_limit=_int(
            env, "RANKING_TIE_READ_LIMIT", DEFAULT_RANKING_TIE_READ_LIMIT, 1, 1_000_000
        ),
        day_bucket_retention_days=_int(env, "DAY_BUCKET_RETENTION_DAYS", 90, 1, 3660),
        marker_ttl_seconds=_int(env, "MARKER_TTL_SECONDS", 2 * 24 * 3600, 86400, 30 * 86400),
        graphiql=_bool(env, "GRAPHIQL_ENABLED", stage != "prod"),
        cors_allow_origins=_origins(env, "CORS_ALLOW_ORIGINS"),
        write_budget_seconds=float(_int(env, "WRITE_BUDGET_SECONDS", 20, 1, 600)),
        # Lambda sets AWS_LAMBDA_FUNCTION_NAME; anywhere else tracing stays off.
        tracing=_bool(env, "TRACING_ENABLED", "AWS_LAMBDA_FUNCTION_NAME" in env),
        log_level=_log_level(env),
        # Parallel scan segments (and threads) of a reconciliation run.
        reconcile_segments=_int(env, "RECONCILE_SEGMENTS", 4, 1, 64),
        max_query_depth=_int(env, "GRAPHQL_MAX_DEPTH", 8, 2, 50),
        max_aliases=_int(env, "GRAPHQL_MAX_ALIASES", 15, 0, 1000),
        max_tokens=_int(env, "GRAPHQL_MAX_TOKENS", 1000, 50, 100_000),
        max_batch_operations=_int(env, "GRAPHQL_MAX_BATCH_OPERATIONS", 0, 0, 50),
        max_body_bytes=_int(env, "MAX_REQUEST_BODY_BYTES", 16384, 1024, 1_048_576),
        cursor_secret=env.get("CURSOR_SECRET") or DEV_CURSOR_SECRET,
        metrics_namespace=_namespace(env),
    )


def from_environment(overrides: Mapping[str, str] | None = None) -> Settings:
    """The settings of this process's environment, with ``overrides`` on top (a
    stage's variables, a local endpoint), read each time it is called: whoever
    calls it keeps the value (app.py, once per container)."""
    return from_env({**os.environ, **(overrides or {})})
