"""The service's objects, built on first use and kept for the container's life."""

from __future__ import annotations

import logging
from functools import cache

from chalicelib import aws
from chalicelib.documents import DocumentStore
from chalicelib.erasure import ErasureStore
from chalicelib.favorites import FavoritesStore
from chalicelib.metrics import MetricSpace
from chalicelib.rankings import RankingStore
from chalicelib.reconcile.reconciler import Reconciler
from chalicelib.reconcile.store import ReconcileStore
from chalicelib.settings import get_settings
from chalicelib.stream.writer import CountsWriter

logger = logging.getLogger(__name__)


@cache
def favorites() -> FavoritesStore:
    settings = get_settings()
    if settings.uses_dev_cursor_secret and settings.stage not in ("local", "test"):
        logger.warning(
            "CURSOR_SECRET is not set for stage %s: cursors can be forged", settings.stage
        )
    return FavoritesStore(
        aws.dynamodb(), settings.favorites_table, cursor_key=settings.cursor_secret.encode()
    )


@cache
def documents() -> DocumentStore:
    settings = get_settings()
    return DocumentStore(
        aws.dynamodb(), settings.documents_table, ttl_days=settings.persisted_query_ttl_days
    )


@cache
def rankings() -> RankingStore:
    settings = get_settings()
    return RankingStore(
        aws.dynamodb(),
        settings.counts_table,
        settings.ranking_shards,
        tie_read_limit=settings.ranking_tie_read_limit,
        cursor_key=settings.cursor_secret.encode(),
    )


@cache
def counts_writer() -> CountsWriter:
    settings = get_settings()
    return CountsWriter(
        aws.dynamodb(),
        settings.counts_table,
        shards=settings.ranking_shards,
        day_retention_days=settings.day_bucket_retention_days,
        marker_ttl_seconds=settings.marker_ttl_seconds,
        budget_seconds=settings.write_budget_seconds,
    )


@cache
def reconciler() -> Reconciler:
    settings = get_settings()
    store = ReconcileStore(
        aws.dynamodb(),
        settings.favorites_table,
        settings.counts_table,
        segments=settings.reconcile_segments,
    )
    return Reconciler(
        store,
        shards=settings.ranking_shards,
        day_retention_days=settings.day_bucket_retention_days,
        metrics=metric_space(),
    )


@cache
def eraser() -> ErasureStore:
    return ErasureStore(aws.dynamodb(), get_settings().favorites_table)


@cache
def metric_space() -> MetricSpace:
    settings = get_settings()
    return MetricSpace.for_stage(settings.metrics_namespace, settings.stage)


def reset() -> None:
    """Forget settings, clients and stores (tests switch environments)."""
    get_settings.cache_clear()
    aws.reset()
    for factory in (
        documents,
        favorites,
        rankings,
        counts_writer,
        reconciler,
        eraser,
        metric_space,
    ):
        factory.cache_clear()
