"""The schema, built once per container; ``schema.graphql`` is exported from it."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from datetime import datetime
from functools import cache, partial
from typing import Any

import strawberry
from graphql import GraphQLError, NoSchemaIntrospectionCustomRule
from strawberry.extensions import MaskErrors, SchemaExtension
from strawberry.schema.config import StrawberryConfig
from strawberry.types.execution import ExecutionContext

from chalicelib import tracing
from chalicelib.api.limits import RequestErrors, batching, limit_extensions
from chalicelib.api.types import Mutation, Query
from chalicelib.errors import ServiceError
from chalicelib.settings import Settings, get_settings
from chalicelib.windows import format_timestamp, parse_timestamp

logger = logging.getLogger(__name__)

DateTime = strawberry.scalar(
    name="DateTime",
    description="A UTC instant, ISO 8601 with milliseconds and a Z, e.g. 2026-11-23T08:15:30.123Z.",
    serialize=format_timestamp,
    parse_value=parse_timestamp,
)


def is_unexpected(error: GraphQLError) -> bool:
    """Errors from GraphQL itself (syntax, validation) and ServiceErrors describe the
    request and are shown; anything else is a fault of ours and is masked."""
    original = error.original_error
    return original is not None and not isinstance(original, ServiceError | GraphQLError)


class MaskUnexpectedErrors(MaskErrors):
    def __init__(self) -> None:
        super().__init__(should_mask_error=is_unexpected, error_message="Internal server error.")

    def anonymise_error(self, error: GraphQLError) -> GraphQLError:
        masked = super().anonymise_error(error)
        # The request id lets support find the log line that has the detail.
        masked.extensions = {
            "code": "INTERNAL_SERVER_ERROR",
            "requestId": request_id_of(self.execution_context),
        }
        return masked


def request_id_of(context: ExecutionContext | None) -> str:
    return str(getattr(context and context.context, "request_id", None) or "unknown")


class OperationTracing(SchemaExtension):
    """One subsegment per GraphQL operation, annotated with its name and type."""

    def on_execute(self) -> Iterator[None]:
        context = self.execution_context
        with tracing.subsegment(
            "graphql",
            operation=context.operation_name or "anonymous",
            operation_type=context.operation_type.value,
            request_id=request_id_of(context),
        ) as span:
            yield
            result = context.result
            errors = getattr(result, "errors", None) or []
            span.annotate("errors", len(errors))


class FavoritesSchema(strawberry.Schema):
    def process_errors(
        self, errors: list[GraphQLError], execution_context: ExecutionContext | None = None
    ) -> None:
        request_id = request_id_of(execution_context)
        for error in errors:
            if is_unexpected(error):
                logger.error(
                    "unexpected error in %s, request %s",
                    error.path,
                    request_id,
                    exc_info=error.original_error,
                )
            else:
                logger.info("request error, request %s: %s", request_id, error.message)


def build_schema(
    *, introspection: bool = True, settings: Settings | None = None
) -> strawberry.Schema:
    settings = settings or get_settings()
    extensions: list[Any] = [
        MaskUnexpectedErrors,
        partial(RequestErrors, hide_suggestions=not introspection),
        OperationTracing,
        *limit_extensions(
            settings, extra_rules=() if introspection else (NoSchemaIntrospectionCustomRule,)
        ),
    ]
    return FavoritesSchema(
        query=Query,
        mutation=Mutation,
        extensions=extensions,
        config=StrawberryConfig(
            scalar_map={datetime: DateTime},
            # "Did you mean ...?" would spell out the schema that introspection hides.
            disable_field_suggestions=not introspection,
            batching_config=batching(settings),
        ),
    )


@cache
def schema(introspection: bool = True) -> strawberry.Schema:
    return build_schema(introspection=introspection)


def sdl() -> str:
    """The schema as SDL, exactly as ``schema.graphql`` holds it."""
    return build_schema().as_str() + "\n"
