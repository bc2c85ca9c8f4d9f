"""What resolvers reach through ``info.context``."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from functools import cached_property

from chalicelib.api.caching import NO_STORE, CachePolicy
from chalicelib.api.loaders import RestaurantBatch
from chalicelib.errors import Unauthenticated
from chalicelib.favorites import FavoritesStore
from chalicelib.rankings import RankingStore
from chalicelib.settings import Settings


def utcnow() -> datetime:
    return datetime.now(UTC)


@dataclass
class RequestContext:
    user_id: str | None
    favorites: FavoritesStore
    rankings: RankingStore
    settings: Settings
    clock: Callable[[], datetime] = utcnow
    # API Gateway's request id when there is one; it ties an error to its log line.
    request_id: str = field(default_factory=lambda: uuid.uuid4().hex)
    # Whether the request named its operation: a document with several needs it.
    operation_named: bool = True
    # Worked out once the operation has run (api/caching.py); no-store until then.
    cache_policy: CachePolicy = NO_STORE

    @cached_property
    def restaurants(self) -> RestaurantBatch:
        """This request's batched restaurant reads (see RestaurantBatch)."""
        return RestaurantBatch(self.favorites, self.rankings, self.user_id)

    def require_user(self) -> str:
        if self.user_id is None:
            raise Unauthenticated(
                "this operation needs a signed-in user (a token with a sub claim)"
            )
        return self.user_id
