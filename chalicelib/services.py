"""The composition object: everything the handlers use, built from one ``Settings`` value.

Each member is built on first use and kept for the object's life (in Lambda,
the container's): nothing is built at import, and the stream handler never
loads the GraphQL layer, whose schema and views are imported inside their
accessors. app.py builds one per process; command lines build theirs from a
stage's settings, and tests build theirs with fakes or overrides.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from datetime import UTC, datetime
from functools import wraps
from typing import TYPE_CHECKING, Any, TypeVar

from chalicelib import aws
from chalicelib.metrics import MetricSpace
from chalicelib.settings import Settings
from chalicelib.stream.writer import CountsWriter
from chalicelib.tracing import Tracer

# Each function of the app loads what its members need, on first use: the stream
# path (the one that runs most cold) never imports the API's stores, the
# reconciliation or the erasure, nor the GraphQL layer.
if TYPE_CHECKING:
    import strawberry
    from mypy_boto3_dynamodb import DynamoDBClient

    from chalicelib.api.view import FavoritesGraphQLView
    from chalicelib.documents import DocumentStore
    from chalicelib.erasure import ErasureStore
    from chalicelib.favorites import FavoritesStore
    from chalicelib.rankings import RankingStore
    from chalicelib.reconcile.reconciler import Reconciler

logger = logging.getLogger(__name__)

T = TypeVar("T")


def _once(build: Callable[[Services], T]) -> Callable[[Services], T]:
    """A member built on its first call and kept by this object."""
    name = build.__name__

    @wraps(build)
    def member(self: Services) -> T:
        if name not in self._built:
            self._built[name] = build(self)
        return self._built[name]  # type: ignore[no-any-return]

    return member


class Services:
    """The service's objects for one ``Settings`` value.

    ``clock`` is the time every member reads (seconds since the epoch);
    ``dynamodb`` a client to use instead of the one the settings describe (a
    fake, or a client a test already holds); ``tracer`` one to use instead of
    the one the settings ask for (a test's span recorder).
    """

    def __init__(
        self,
        settings: Settings,
        *,
        clock: Callable[[], float] = time.time,
        dynamodb: DynamoDBClient | None = None,
        tracer: Tracer | None = None,
    ) -> None:
        self.settings = settings
        self.clock = clock
        self.tracer = tracer if tracer is not None else Tracer(settings)
        self._built: dict[str, Any] = {} if dynamodb is None else {"dynamodb": dynamodb}
        self._views: dict[bool, FavoritesGraphQLView] = {}

    @_once
    def dynamodb(self) -> DynamoDBClient:
        # Instrumented before it is built: the tracer records every call it makes.
        self.tracer.instrument_aws()
        return aws.dynamodb(self.settings)

    def now(self) -> datetime:
        return datetime.fromtimestamp(self.clock(), UTC)

    @_once
    def favorites(self) -> FavoritesStore:
        from chalicelib.favorites import FavoritesStore  # noqa: PLC0415

        settings = self.settings
        if settings.uses_dev_cursor_secret and settings.stage not in ("local", "test"):
            logger.warning(
                "CURSOR_SECRET is not set for stage %s: cursors can be forged", settings.stage
            )
        return FavoritesStore(
            self.dynamodb(),
            settings.favorites_table,
            clock=self.now,
            cursor_key=settings.cursor_secret.encode(),
            # A favorite names the span that wrote it, for its batch to link back.
            trace_header=self.tracer.trace_header,
        )

    @_once
    def documents(self) -> DocumentStore:
        from chalicelib.documents import DocumentStore  # noqa: PLC0415

        settings = self.settings
        return DocumentStore(
            self.dynamodb(),
            settings.documents_table,
            ttl_days=settings.persisted_query_ttl_days,
            clock=self.now,
        )

    @_once
    def rankings(self) -> RankingStore:
        from chalicelib.rankings import RankingStore  # noqa: PLC0415

        settings = self.settings
        return RankingStore(
            self.dynamodb(),
            settings.counts_table,
            settings.ranking_shards,
            tie_read_limit=settings.ranking_tie_read_limit,
            cursor_key=settings.cursor_secret.encode(),
        )

    @_once
    def counts_writer(self) -> CountsWriter:
        settings = self.settings
        return CountsWriter(
            self.dynamodb(),
            settings.counts_table,
            shards=settings.ranking_shards,
            day_retention_days=settings.day_bucket_retention_days,
            marker_ttl_seconds=settings.marker_ttl_seconds,
            budget_seconds=settings.write_budget_seconds,
            clock=self.clock,
        )

    @_once
    def reconciler(self) -> Reconciler:
        from chalicelib.reconcile.reconciler import Reconciler  # noqa: PLC0415
        from chalicelib.reconcile.store import ReconcileStore  # noqa: PLC0415

        settings = self.settings
        store = ReconcileStore(
            self.dynamodb(),
            settings.favorites_table,
            settings.counts_table,
            segments=settings.reconcile_segments,
        )
        return Reconciler(
            store,
            shards=settings.ranking_shards,
            day_retention_days=settings.day_bucket_retention_days,
            clock=self.clock,
            metrics=self.metric_space(),
        )

    @_once
    def eraser(self) -> ErasureStore:
        from chalicelib.erasure import ErasureStore  # noqa: PLC0415

        return ErasureStore(self.dynamodb(), self.settings.favorites_table)

    @_once
    def metric_space(self) -> MetricSpace:
        return MetricSpace.for_stage(self.settings.metrics_namespace, self.settings.stage)

    @_once
    def schema(self) -> strawberry.Schema:
        # Imported here: the stream handler never loads strawberry.
        from chalicelib.api.schema import build_schema  # noqa: PLC0415

        # One schema for both routes: introspection as the stage allows it.
        return build_schema(
            introspection=self.settings.graphiql, settings=self.settings, tracer=self.tracer
        )

    def view(self, *, public: bool) -> FavoritesGraphQLView:
        """The GraphQL view of one route, built on its first request; its stores are ours."""
        if public not in self._views:
            from chalicelib.api.view import FavoritesGraphQLView  # noqa: PLC0415

            self._views[public] = FavoritesGraphQLView(
                public=public,
                stores=self,
                schema=self.schema(),
                settings=self.settings,
                tracer=self.tracer,
                clock=self.now,
            )
        return self._views[public]
