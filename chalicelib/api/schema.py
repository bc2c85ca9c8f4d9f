"""The schema (built once per composition object); ``schema.graphql`` is exported from it."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from datetime import datetime
from functools import partial
from typing import Any, Final

import strawberry
from graphql import (
    FieldNode,
    GraphQLError,
    GraphQLObjectType,
    NoSchemaIntrospectionCustomRule,
    ValidationRule,
    is_introspection_type,
    is_specified_scalar_type,
    print_type,
)
from strawberry.extensions import MaskErrors, SchemaExtension
from strawberry.federation.schema import FederationAny
from strawberry.schema.config import StrawberryConfig
from strawberry.types.execution import ExecutionContext
from strawberry.types.info import Info

from chalicelib.api.caching import CacheControl
from chalicelib.api.limits import RequestErrors, batching, limit_extensions
from chalicelib.api.types import Mutation, Query, Restaurant
from chalicelib.errors import InvalidInput, ServiceError
from chalicelib.ids import MAX_IDS, is_valid_id
from chalicelib.settings import Settings, from_env
from chalicelib.tracing import OFF, Tracer
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

    def __init__(self, *, tracer: Tracer) -> None:
        self._tracer = tracer

    def on_execute(self) -> Iterator[None]:
        context = self.execution_context
        with self._tracer.subsegment(
            "graphql",
            operation=context.operation_name or "anonymous",
            operation_type=context.operation_type.value,
            request_id=request_id_of(context),
        ) as span:
            yield
            result = context.result
            errors = getattr(result, "errors", None) or []
            span.annotate("errors", len(errors))


# The Apollo Federation version the subgraph declares (its @link); the gateway in
# tests/federation composes it.
FEDERATION_VERSION: Final = "2.11"
# Names only a federation gateway uses; the clients' schema.graphql leaves them out.
FEDERATION_FIELDS = ("_service", "_entities")


def restaurant_id_of(representation: object, index: int) -> str:
    """The id of one ``_entities`` representation, which must be a Restaurant's key."""
    where = f"representations[{index}]"
    if not isinstance(representation, dict) or representation.get("__typename") != "Restaurant":
        raise InvalidInput(
            f'{where} is not a Restaurant: send {{"__typename": "Restaurant", "id": ...}}'
        )
    restaurant_id = representation.get("id")
    if not is_valid_id(restaurant_id):
        raise InvalidInput(
            f"{where}.id must be 1 to 128 characters of letters, digits, '.', '_', ':' or '-',"
            " starting with a letter or digit"
        )
    return str(restaurant_id)


class FavoritesSchema(strawberry.federation.Schema):
    def entities_resolver(
        self, info: Info, representations: list[FederationAny]
    ) -> list[FederationAny]:
        """Federation's ``_entities``: Restaurants by key, fields read in one batch as for a
        ranking (strawberry's own resolver resolves one by one and answers a
        representation it cannot use with an error that reads as a fault of ours).

        A representation that is not a Restaurant key is a BAD_USER_INPUT error at its
        own index; the others still resolve.
        """
        if len(representations) > MAX_IDS:
            raise InvalidInput(
                f"representations must hold at most {MAX_IDS} entities, got {len(representations)}"
            )
        ids: list[str | InvalidInput] = []
        for index, representation in enumerate(representations):
            try:
                ids.append(restaurant_id_of(representation, index))
            except InvalidInput as error:
                ids.append(error)
        restaurants = iter(Restaurant.listed(info, [i for i in ids if isinstance(i, str)]))
        return [FederationAny(next(restaurants) if isinstance(i, str) else i) for i in ids]

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


class NoServiceSdlRule(ValidationRule):
    """Where introspection is off, federation's ``_service { sdl }`` is too: it would
    hand out the schema that hiding introspection keeps to itself. Gateways in such
    stages compose from the exported ``schema.subgraph.graphql`` instead."""

    def enter_field(self, node: FieldNode, *_args: Any) -> None:
        parent = self.context.get_parent_type()
        if node.name.value == "_service" and parent is self.context.schema.query_type:
            self.report_error(
                GraphQLError("_service is not allowed: introspection is off in this stage", node)
            )


def build_schema(
    *, introspection: bool = True, settings: Settings | None = None, tracer: Tracer = OFF
) -> strawberry.Schema:
    """The served schema. Without ``settings``, the documented defaults' limits (the
    exported SDL does not depend on them)."""
    settings = settings or from_env({})
    extensions: list[Any] = [
        MaskUnexpectedErrors,
        partial(RequestErrors, hide_suggestions=not introspection),
        partial(OperationTracing, tracer=tracer),
        CacheControl,
        *limit_extensions(
            settings,
            # In prod neither introspection nor the subgraph's SDL (_service).
            extra_rules=()
            if introspection
            else (NoSchemaIntrospectionCustomRule, NoServiceSdlRule),
        ),
    ]
    return FavoritesSchema(
        query=Query,
        mutation=Mutation,
        federation_version=FEDERATION_VERSION,
        extensions=extensions,
        config=StrawberryConfig(
            scalar_map={datetime: DateTime},
            # "Did you mean ...?" would spell out the schema that introspection hides.
            disable_field_suggestions=not introspection,
            batching_config=batching(settings),
        ),
    )


def sdl() -> str:
    """The clients' schema as SDL, exactly as ``schema.graphql`` holds it: the served
    schema without what only a federation gateway uses (``_service``, ``_entities``,
    their types, the ``@link``/``@key`` directives)."""
    served = build_schema()._schema
    parts = []
    for name in sorted(served.type_map):
        type_ = served.type_map[name]
        if (
            is_introspection_type(type_)
            or is_specified_scalar_type(type_)
            or name.startswith(("_", "link__"))
        ):
            continue
        if type_ is served.query_type:
            type_ = GraphQLObjectType(
                type_.name,
                {k: v for k, v in type_.fields.items() if k not in FEDERATION_FIELDS},
                description=type_.description,
            )
        parts.append(print_type(type_))
    return "\n\n".join(parts) + "\n"


def subgraph_sdl() -> str:
    """The schema as a federation subgraph (what ``_service { sdl }`` answers), exactly
    as ``schema.subgraph.graphql`` holds it."""
    return build_schema().as_str() + "\n"
