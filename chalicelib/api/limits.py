"""Limits on what one HTTP request may ask of the GraphQL API, from settings.

Strawberry's own extensions do the work: a query's depth, aliases and tokens
are bounded before it runs, and batching is off unless configured (then capped).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from functools import partial

from graphql import GraphQLError, GraphQLSyntaxError
from strawberry.extensions import (
    MaxAliasesLimiter,
    MaxTokensLimiter,
    QueryDepthLimiter,
    SchemaExtension,
)
from strawberry.schema.config import BatchingConfig

from chalicelib.settings import Settings

# Codes for errors GraphQL itself raises about a request (syntax, validation,
# variable coercion, limits), which carry none of their own.
PARSE_FAILED = "GRAPHQL_PARSE_FAILED"
VALIDATION_FAILED = "GRAPHQL_VALIDATION_FAILED"
# How graphql-core starts every hint it appends to a message.
SUGGESTION = " Did you mean "


def limit_extensions(settings: Settings) -> list[Callable[[], SchemaExtension]]:
    # Factories, so that each request gets fresh extension instances.
    return [
        partial(MaxTokensLimiter, max_token_count=settings.max_tokens),
        partial(QueryDepthLimiter, max_depth=settings.max_query_depth),
        partial(MaxAliasesLimiter, max_alias_count=settings.max_aliases),
    ]


def batching(settings: Settings) -> BatchingConfig | None:
    if settings.max_batch_operations == 0:
        return None
    return BatchingConfig(max_operations=settings.max_batch_operations)


def request_error_code(error: GraphQLError) -> str:
    return PARSE_FAILED if isinstance(error, GraphQLSyntaxError) else VALIDATION_FAILED


class RequestErrors(SchemaExtension):
    """Give every error a code, so clients can always branch on it, and, where
    introspection is off, drop the "Did you mean ...?" hints that would spell out
    the schema (strawberry's own switch covers unknown fields only, not
    arguments, enum values or types)."""

    def __init__(self, *, hide_suggestions: bool = False) -> None:
        self._hide_suggestions = hide_suggestions

    def on_operation(self) -> Iterator[None]:
        yield
        for error in getattr(self.execution_context.result, "errors", None) or []:
            if not (error.extensions or {}).get("code"):
                error.extensions = {**(error.extensions or {}), "code": request_error_code(error)}
            if self._hide_suggestions and SUGGESTION in error.message:
                error.message = error.message.split(SUGGESTION)[0].rstrip()
