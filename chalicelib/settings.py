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

# What records the traces when tracing is on (chalicelib/tracing/). The default is
# the one with the lower cold start as shipped (BENCHMARKS.md, section 1; the README's
# Tracing section says what changes at the X-Ray SDK's end of support).
TRACING_BACKENDS = ("xray-sdk", "opentelemetry")
DEFAULT_TRACING_BACKEND = "xray-sdk"
# Where Lambda's X-Ray daemon listens unless Lambda says otherwise.
DEFAULT_XRAY_DAEMON_ADDRESS = "127.0.0.1:2000"
# Lambda sets this per invocation: the trace the invocation belongs to.
LAMBDA_TRACE_HEADER = "_X_AMZN_TRACE_ID"


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
    tracing_backend: str
    # host:port of the X-Ray daemon, from Lambda (AWS_XRAY_DAEMON_ADDRESS).
    xray_daemon_address: str
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
    # Persisted GraphQL documents (Apollo's APQ protocol): where, and for how long.
    documents_table: str
    persisted_query_ttl_days: int
    # Trusted documents: execute only the documents of the shipped manifest (and any
    # an operator loaded into the documents table); see SECURITY.md.
    trusted_documents_only: bool
    # Apollo's persisted query list JSON; empty: the manifest shipped in the zip.
    trusted_documents_manifest: str
    # HTTP caching of public GET answers (seconds): a current period's ranking and
    # counts; a past period's; how long a cache may serve stale while it revalidates,
    # or while the API fails.
    cache_max_age: int
    cache_past_period_max_age: int
    cache_stale_while_revalidate: int
    cache_stale_if_error: int
    # The queue account services send erasure requests to (the packaged stack
    # subscribes the function to its own queue), and the pause between the two
    # empty passes over the index that end an erasure (chalicelib.erasure).
    erasure_queue: str
    erasure_settle_seconds: float

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


def _tracing_backend(env: Mapping[str, str]) -> str:
    raw = env.get("TRACING_BACKEND") or DEFAULT_TRACING_BACKEND
    if raw not in TRACING_BACKENDS:
        names = ", ".join(TRACING_BACKENDS)
        raise SettingsError(f"TRACING_BACKEND must be one of {names}, got {raw!r}")
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
        tracing_backend=_tracing_backend(env),
        xray_daemon_address=env.get("AWS_XRAY_DAEMON_ADDRESS") or DEFAULT_XRAY_DAEMON_ADDRESS,
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
        documents_table=env.get("PERSISTED_DOCUMENTS_TABLE", f"persisted-documents-{stage}"),
        persisted_query_ttl_days=_int(env, "PERSISTED_QUERY_TTL_DAYS", 30, 1, 365),
        trusted_documents_only=_bool(env, "TRUSTED_DOCUMENTS_ONLY", False),
        trusted_documents_manifest=env.get("TRUSTED_DOCUMENTS_MANIFEST", ""),
        cache_max_age=_int(env, "CACHE_MAX_AGE_SECONDS", 5, 0, 3600),
        cache_past_period_max_age=_int(env, "CACHE_PAST_PERIOD_MAX_AGE_SECONDS", 300, 0, 86400),
        cache_stale_while_revalidate=_int(
            env, "CACHE_STALE_WHILE_REVALIDATE_SECONDS", 30, 0, 86400
        ),
        cache_stale_if_error=_int(env, "CACHE_STALE_IF_ERROR_SECONDS", 300, 0, 86400),
        erasure_queue=env.get("ERASURE_QUEUE") or f"favorites-{stage}-erasures",
        erasure_settle_seconds=_int(env, "ERASURE_SETTLE_MS", 1000, 0, 60_000) / 1000,
    )


def from_environment(overrides: Mapping[str, str] | None = None) -> Settings:
    """The settings of this process's environment, with ``overrides`` on top (a
    stage's variables, a local endpoint), read each time it is called: whoever
    calls it keeps the value (app.py, once per container)."""
    return from_env({**os.environ, **(overrides or {})})


def lambda_trace_header(env: Mapping[str, str] = os.environ) -> str | None:
    """The X-Ray trace header of the invocation running now, if any.

    Not a setting: Lambda rewrites it before every invocation, so it is read
    each time, never cached.
    """
    return env.get(LAMBDA_TRACE_HEADER) or None
