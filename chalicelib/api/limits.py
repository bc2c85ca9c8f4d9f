"""Limits on what one HTTP request may ask of the GraphQL API, from settings,
and the caches that spare a document seen before its parsing and validation.

Strawberry's own extensions and rules do the work: a query's depth, aliases and
tokens are bounded before it runs, and batching is off unless configured (then
capped). A document is parsed once per token limit and validated once per rule
set; a cached answer is the one those limits gave, so it can never let a
document past them.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from contextlib import suppress
from functools import lru_cache, partial
from typing import Any

from graphql import (
    ASTValidationRule,
    DocumentNode,
    GraphQLError,
    GraphQLID,
    GraphQLSchema,
    GraphQLSyntaxError,
    IntValueNode,
    OperationDefinitionNode,
    ValidationRule,
    get_named_type,
    parse,
    validate,
)
from strawberry.extensions import MaxAliasesLimiter, QueryDepthLimiter, SchemaExtension
from strawberry.schema.config import BatchingConfig
from strawberry.schema.schema import validate_document

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
# Distinct documents kept parsed and validated per container (strawberry's
# default): clients send a handful of documents again and again, and a bound
# keeps a stream of unique ones from growing memory.
DOCUMENT_CACHE_SIZE = 128

RuleSet = tuple[type[ASTValidationRule], ...]


def limit_extensions(
    settings: Settings, extra_rules: Sequence[type[ASTValidationRule]] = ()
) -> list[Callable[[], SchemaExtension]]:
    """A factory, so that each request gets a fresh extension instance.

    The depth and alias rules are built once, here: strawberry's limiters make
    a new rule class per instance, so per request, and a validation cache keyed
    by the rules would then never hit. ``extra_rules`` are added to every
    validation (introspection off, say).
    """
    rules = (
        *QueryDepthLimiter(max_depth=settings.max_query_depth).validation_rules,
        *MaxAliasesLimiter(max_alias_count=settings.max_aliases).validation_rules,
        *extra_rules,
    )
    return [partial(RequestLimits, max_tokens=settings.max_tokens, rules=rules)]


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


class Document:
    """A parsed document and the errors each schema and rule set found in it, once each.

    The errors hang off the document, keyed by schema and rules (hashed by identity):
    a cache keyed by the DocumentNode would hash the whole tree on every request.
    """

    def __init__(self, node: DocumentNode) -> None:
        self.node = node
        self.operations = sum(
            isinstance(definition, OperationDefinitionNode) for definition in node.definitions
        )
        self._errors: dict[tuple[GraphQLSchema, RuleSet], tuple[GraphQLError, ...]] = {}

    def validation_errors(self, schema: GraphQLSchema, rules: RuleSet) -> tuple[GraphQLError, ...]:
        key = (schema, rules)
        errors = self._errors.get(key)
        if errors is None:
            # Two threads may both compute it: same answer, either one kept.
            errors = self._errors[key] = validation_errors(schema, self.node, rules)
        return errors


@lru_cache(maxsize=DOCUMENT_CACHE_SIZE)
def parse_document(query: str, **options: Any) -> Document:
    """graphql-core's parse, remembered by text and options (the token limit among
    them): a document parsed under one limit is never reused under a lower one.
    Syntax errors are raised, not remembered."""
    return Document(parse(query, **options))


def validation_errors(
    schema: GraphQLSchema, document: DocumentNode, rules: RuleSet
) -> tuple[GraphQLError, ...]:
    """Every validation error of a document under a schema and rules.

    :class:`IntLiteralLengthRule` runs first, alone, and ends validation when it
    finds one: graphql-core's Int parses a literal with int(), which raises
    ValueError (not a GraphQLError) past Python's 4300-digit limit, and validation
    would report that error with the ValueError as its original error, which reads
    as a fault of ours and is masked as INTERNAL_SERVER_ERROR. Adding the rule to
    the others would not help: all rules run, so that error would still be there.
    The rest is strawberry's own validation (the rules given plus its own).
    """
    errors = validate(schema, document, [IntLiteralLengthRule])
    if not errors:
        errors = validate_document(schema, document, rules)
    return tuple(errors)


def fresh(error: GraphQLError) -> GraphQLError:
    """A copy of a remembered error for one response: extensions edit their errors
    (codes, hints), and a remembered one is shared by every request that sends its
    document."""
    return GraphQLError(
        error.message,
        error.nodes,
        error.source,
        error.positions,
        error.path,
        error.original_error,
        dict(error.extensions) if error.extensions else None,
    )


class RequestLimits(SchemaExtension):
    """The limits, and the caches that spare a document seen before its parsing and
    validation: one extension, as strawberry's hooks cost per extension and request.

    It does what strawberry's MaxTokensLimiter and AddValidationRules do, then
    parses and validates through the caches above. Strawberry's own ParserCache
    and ValidationCache would do the same, but the latter would skip
    :class:`IntLiteralLengthRule` (or be overridden by it, depending on the order).
    """

    def __init__(self, *, max_tokens: int, rules: RuleSet) -> None:
        self._max_tokens = max_tokens
        self._rules = rules
        self._document: Document | None = None

    def on_operation(self) -> Iterator[None]:
        context = self.execution_context
        # Parsing stops at the limit: a token bomb is never parsed in full.
        context.parse_options["max_tokens"] = self._max_tokens
        context.validation_rules = (*context.validation_rules, *self._rules)
        yield

    def on_parse(self) -> Iterator[None]:
        context = self.execution_context
        if context.graphql_document is None and context.query:
            # On a syntax error strawberry parses it again and reports it as always.
            with suppress(GraphQLError):
                self._document = parse_document(context.query, **context.parse_options)
                context.graphql_document = self._document.node
        yield

    def on_validate(self) -> Iterator[None]:
        context = self.execution_context
        document = self._document
        if (
            context.pre_execution_errors is None
            and document is not None
            and context.graphql_document is document.node
        ):
            errors = document.validation_errors(
                context.schema._schema, tuple(context.validation_rules)
            )
            # Set, even when empty: strawberry then skips its own validation.
            context.pre_execution_errors = [fresh(error) for error in errors]
            named = getattr(context.context, "operation_named", True)
            if not errors and not named and document.operations > 1:
                # The spec's request error; strawberry would run the first one.
                context.pre_execution_errors = [
                    GraphQLError(
                        "Must provide operation name if query contains multiple operations."
                    )
                ]
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
