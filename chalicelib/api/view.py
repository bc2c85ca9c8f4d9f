"""The Chalice side of GraphQL: a view per route, with the caller's identity."""

from __future__ import annotations

from functools import cache

from chalice.app import Request, Response
from strawberry.chalice.views import GraphQLView
from strawberry.http.temporal_response import TemporalResponse

from chalicelib import services
from chalicelib.api.context import RequestContext
from chalicelib.api.schema import schema
from chalicelib.auth import caller_id
from chalicelib.settings import get_settings


class FavoritesGraphQLView(GraphQLView):
    def __init__(self, *, public: bool) -> None:
        settings = get_settings()
        super().__init__(
            schema=schema(introspection=settings.graphiql),
            graphql_ide="graphiql" if settings.graphiql else None,
        )
        self._public = public

    def get_context(self, request: Request, response: TemporalResponse) -> RequestContext:  # type: ignore[override]
        # The public route never has an identity, whatever the request carries.
        user_id = None if self._public else caller_id(request.context)
        return RequestContext(
            user_id=user_id, favorites=services.favorites(), rankings=services.rankings()
        )


@cache
def view(public: bool) -> FavoritesGraphQLView:
    return FavoritesGraphQLView(public=public)


def handle(request: Request, *, public: bool) -> Response:
    return view(public).execute_request(request)
