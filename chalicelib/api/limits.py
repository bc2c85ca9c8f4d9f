"""Limits on what one HTTP request may ask of the GraphQL API, from settings.

Strawberry's own extensions do the work: a query's depth, aliases and tokens
are bounded before it runs, and batching is off unless configured (then capped).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from functools import partial
from typing import Any

from graphql import (
    GraphQLError,
    GraphQLID,
    GraphQLSyntaxError,
    IntValueNode,
    ValidationRule,
    get_named_type,
    validate,
)
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
# Digits a number may have, as a JSON integer or a GraphQL Int literal. Int is
# 32-bit (10 digits); this only stops numbers nothing can use before Python
# converts them: int() of more than sys.get_int_max_str_digits() (4300) digits
# raises ValueError, and conversion time grows with the square of the length.
MAX_NUMBER_DIGITS = 100


def limit_extensions(settings: Settings) -> list[Callable[[], SchemaExtension]]:
    # Factories, so that each request gets fresh extension instances.
    return [
        partial(MaxTokensLimiter, max_token_count=settings.max_tokens),
        IntLiteralLimiter,
        partial(QueryDepthLimiter, max_depth=settings.max_query_depth),
        partial(MaxAliasesLimiter, max_alias_count=settings.max_aliases),
    ]


class IntLiteralLengthRule(ValidationRule):
    """Refuse integer literals longer than ``MAX_NUMBER_DIGITS`` where they would be
    converted to a number: everywhere but ID arguments, which take the digits as text."""

    def enter_int_value(self, node: IntValueNode, *_args: Any) -> None:
        expected = self.context.get_input_type()
        if expected is not None and get_named_type(expected) is GraphQLID:
            return
        digits = len(node.value.lstrip("-"))
        if digits > MAX_NUMBER_DIGITS:
            self.report_error(
                GraphQLError(
                    f"An integer literal has {digits} digits; at most {MAX_NUMBER_DIGITS}"
                    " are accepted (Int is a 32-bit signed integer).",
                    node,
                )
            )


class IntLiteralLimiter(SchemaExtension):
    """Run :class:`IntLiteralLengthRule` before the other validation rules, and
    stop there when it finds one.

    graphql-core's Int parses a literal with int(), which raises ValueError
    (not a GraphQLError) past Python's 4300-digit limit; validation then reports
    that error with the ValueError as its original error, which reads as a fault
    of ours and would be masked as INTERNAL_SERVER_ERROR. Adding the rule to the
    others would not help: all rules run, so that error would still be there.
    Setting ``pre_execution_errors`` before validation makes strawberry skip
    its own validation and answer with these errors (GRAPHQL_VALIDATION_FAILED).
    """

    def on_validate(self) -> Iterator[None]:
        context = self.execution_context
        if context.pre_execution_errors is None and context.graphql_document is not None:
            errors = validate(
                context.schema._schema, context.graphql_document, [IntLiteralLengthRule]
            )
            if errors:
                context.pre_execution_errors = list(errors)
        yield


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
