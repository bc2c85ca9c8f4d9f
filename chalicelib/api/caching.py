"""HTTP caching from the schema: cache hints on fields, a policy per response.

In the spirit of Apollo's ``@cacheControl``: rankings and counts are the same for
everybody for seconds at a time, so they are public with a short max-age (a past
period's counts change rarely and may be cached longer); what depends on the
viewer is private. A response gets the most restrictive policy of the fields its
operation selects (a superset of those it resolves, so never too lax), and only
a GET answered without errors may be stored by a shared cache at all.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from graphql import (
    FieldNode,
    FragmentDefinitionNode,
    FragmentSpreadNode,
    GraphQLNamedType,
    GraphQLSchema,
    InlineFragmentNode,
    OperationDefinitionNode,
    OperationType,
    SelectionSetNode,
    get_named_type,
)
from graphql.execution.values import get_argument_values, get_variable_values
from strawberry.extensions import SchemaExtension

from chalicelib.errors import InvalidInput
from chalicelib.settings import Settings
from chalicelib.windows import TimeWindow, bucket_for

PUBLIC = "public"
PRIVATE = "private"


@dataclass(frozen=True)
class CachePolicy:
    """How long a response may be reused, and by whom. ``max_age`` None: not at all."""

    max_age: int | None
    scope: str = PUBLIC

    def restrict(self, other: CachePolicy) -> CachePolicy:
        if self.max_age is None or other.max_age is None:
            return NO_STORE
        scope = PRIVATE if PRIVATE in (self.scope, other.scope) else PUBLIC
        return CachePolicy(min(self.max_age, other.max_age), scope)

    @property
    def shared(self) -> bool:
        """Whether a shared cache (a CDN, the local nginx) may keep it."""
        return self.scope == PUBLIC and bool(self.max_age)


NO_STORE = CachePolicy(None, PRIVATE)


def cache_control(policy: CachePolicy, settings: Settings) -> str:
    if not policy.shared:
        return "private, no-store"
    return (
        f"public, max-age={policy.max_age},"
        f" stale-while-revalidate={settings.cache_stale_while_revalidate},"
        f" stale-if-error={settings.cache_stale_if_error}"
    )


# A hint: from a field's coerced arguments, its policy; None: the field adds nothing.
Hint = Callable[[Mapping[str, Any], "Hints"], CachePolicy | None]


@dataclass(frozen=True)
class Hints:
    """The hints of the schema's fields, with the settings and the clock they read."""

    settings: Settings
    now: datetime

    def period(self, arguments: Mapping[str, Any]) -> CachePolicy:
        """Counts of a window and period: short-lived for the current period, longer past."""
        window = arguments.get("window", TimeWindow.ALL_TIME)
        if not isinstance(window, TimeWindow):
            window = TimeWindow(window)
        period = arguments.get("period")
        try:
            past = period is not None and bucket_for(window, period, self.now) != bucket_for(
                window, None, self.now
            )
        except InvalidInput:
            past = False  # the field fails; the response carries an error and is not stored
        seconds = self.settings.cache_past_period_max_age if past else self.settings.cache_max_age
        return CachePolicy(seconds)

    def private(self, _: Mapping[str, Any]) -> CachePolicy:
        return CachePolicy(0, PRIVATE)

    def node(self, arguments: Mapping[str, Any]) -> CachePolicy | None:
        # A viewer id answers by the caller's identity; a restaurant's fields speak for it.
        return (
            self.private(arguments) if str(arguments.get("id", "")).startswith("viewer/") else None
        )


# (type, field) -> the Hints method that gives its policy. Unlisted fields add nothing:
# ids, ranks and cursors are fixed by the fields that chose the rows.
FIELD_HINTS: dict[tuple[str, str], Callable[[Hints, Mapping[str, Any]], CachePolicy | None]] = {
    ("Query", "topRestaurants"): Hints.period,
    ("Restaurant", "favoriteCount"): Hints.period,
    ("Restaurant", "viewerHasFavorited"): Hints.private,
    ("Query", "viewer"): Hints.private,
    ("Query", "node"): Hints.node,
}
# Every field of these types depends on the caller.
PRIVATE_TYPES = frozenset({"Viewer", "FavoriteConnection", "FavoriteEdge"})


def _fields(
    selection_set: SelectionSetNode | None,
    parent: GraphQLNamedType,
    schema: GraphQLSchema,
    fragments: Mapping[str, FragmentDefinitionNode],
    seen: frozenset[str] = frozenset(),
) -> Iterator[tuple[GraphQLNamedType, FieldNode]]:
    """Every (parent type, field) an operation selects, through fragments."""
    if selection_set is None:
        return
    for selection in selection_set.selections:
        if isinstance(selection, FieldNode):
            yield parent, selection
            fields = getattr(parent, "fields", {})
            definition = fields.get(selection.name.value)
            if definition is not None:
                named = get_named_type(definition.type)
                yield from _fields(selection.selection_set, named, schema, fragments, seen)
        elif isinstance(selection, InlineFragmentNode):
            condition = selection.type_condition
            inner = schema.get_type(condition.name.value) if condition else parent
            yield from _fields(selection.selection_set, inner or parent, schema, fragments, seen)
        elif isinstance(selection, FragmentSpreadNode):
            name = selection.name.value
            fragment = fragments.get(name)
            if fragment is None or name in seen:
                continue
            inner = schema.get_type(fragment.type_condition.name.value) or parent
            yield from _fields(fragment.selection_set, inner, schema, fragments, seen | {name})


def operation_policy(
    schema: GraphQLSchema,
    operation: OperationDefinitionNode,
    fragments: Mapping[str, FragmentDefinitionNode],
    variables: Mapping[str, Any] | None,
    hints: Hints,
) -> CachePolicy:
    """The most restrictive policy of the fields ``operation`` selects."""
    if operation.operation is not OperationType.QUERY:
        return NO_STORE
    coerced = get_variable_values(
        schema, operation.variable_definitions or (), dict(variables or {})
    )
    if isinstance(coerced, list):
        return NO_STORE  # bad variables: the request fails anyway
    root = schema.query_type
    assert root is not None
    policy: CachePolicy | None = None
    for parent, node in _fields(operation.selection_set, root, schema, fragments):
        if parent.name in PRIVATE_TYPES:
            found: CachePolicy | None = hints.private({})
        else:
            hint = FIELD_HINTS.get((parent.name, node.name.value))
            if hint is None:
                continue
            definition = getattr(parent, "fields", {})[node.name.value]
            found = hint(hints, get_argument_values(definition, node, coerced))
        if found is not None:
            policy = found if policy is None else policy.restrict(found)
    # Nothing counted (ids only, introspection, the subgraph's SDL): as fresh as a count.
    return policy if policy is not None else CachePolicy(hints.settings.cache_max_age)


class CacheControl(SchemaExtension):
    """Works out the response's cache policy once the operation has run, onto the
    request context (``cache_policy``), for the view to turn into headers."""

    def on_execute(self) -> Iterator[None]:
        yield
        context = self.execution_context
        request = context.context
        document = context.graphql_document
        if request is None or document is None:
            return
        operations = [d for d in document.definitions if isinstance(d, OperationDefinitionNode)]
        name = context.operation_name
        chosen = [o for o in operations if name is None or (o.name and o.name.value == name)]
        if len(chosen) != 1:
            return
        fragments = {
            d.name.value: d for d in document.definitions if isinstance(d, FragmentDefinitionNode)
        }
        hints = Hints(request.settings, request.clock())
        request.cache_policy = operation_policy(
            context.schema._schema, chosen[0], fragments, context.variables, hints
        )
