"""The schema as a published contract: described everywhere, and no break without notice."""

from __future__ import annotations

import hashlib
import re
from pathlib import Path

from graphql import (
    GraphQLEnumType,
    GraphQLInputObjectType,
    GraphQLInterfaceType,
    GraphQLObjectType,
    GraphQLSchema,
    build_schema,
    find_breaking_changes,
    is_introspection_type,
    is_specified_scalar_type,
)

ROOT = Path(__file__).resolve().parents[2]
BASELINE = ROOT / "schema.baseline.graphql"
CHANGELOG = ROOT / "CHANGELOG.md"


def undescribed(schema: GraphQLSchema) -> list[str]:
    """Every type, field, argument and enum value without a description."""
    missing: list[str] = []
    for name, type_ in schema.type_map.items():
        if is_introspection_type(type_) or is_specified_scalar_type(type_):
            continue
        if not type_.description:
            missing.append(name)
        if isinstance(type_, GraphQLObjectType | GraphQLInterfaceType):
            for field_name, field in type_.fields.items():
                if not field.description:
                    missing.append(f"{name}.{field_name}")
                missing += [
                    f"{name}.{field_name}({arg_name}:)"
                    for arg_name, arg in field.args.items()
                    if not arg.description
                ]
        elif isinstance(type_, GraphQLInputObjectType):
            missing += [f"{name}.{f}" for f, v in type_.fields.items() if not v.description]
        elif isinstance(type_, GraphQLEnumType):
            missing += [f"{name}.{v}" for v, value in type_.values.items() if not value.description]
    return missing


def breaking_changes(published: str, current: str) -> list[str]:
    return [
        change.description
        for change in find_breaking_changes(build_schema(published), build_schema(current))
    ]


def fingerprint(text: str) -> str:
    return "sha256:" + hashlib.sha256(text.encode()).hexdigest()[:16]


def current_sdl() -> str:
    from chalicelib.api.schema import sdl

    return sdl()


def test_every_type_field_argument_and_enum_value_has_a_description():
    assert undescribed(build_schema(current_sdl())) == []


def test_the_description_check_finds_what_is_missing():
    schema = build_schema('"Q" type Query { "f" f(a: Int): E  g: Int }  enum E { "x" X  Y }')
    assert undescribed(schema) == ["Query.f(a:)", "Query.g", "E", "E.Y"]


def test_no_breaking_change_against_the_published_baseline():
    changes = breaking_changes(BASELINE.read_text(), current_sdl())
    assert changes == [], (
        "The schema breaks clients of schema.baseline.graphql: "
        + "; ".join(changes)
        + ". If that is intended, run `make schema-baseline` and add a CHANGELOG.md entry"
        " that says what breaks and names the printed fingerprint, in the same commit."
    )


def test_the_breaking_change_check_catches_a_removed_field_and_a_narrowed_type():
    published = "type Query { a: Int  b: String }"
    assert breaking_changes(published, "type Query { a: Int  b: String  c: ID }") == []
    assert breaking_changes(published, "type Query { a: Int }") == ["Field Query.b was removed."]
    assert breaking_changes(published, "type Query { a: String  b: String }") != []


def test_the_newest_changelog_entry_names_the_published_baseline():
    entries = re.split(r"^## ", CHANGELOG.read_text(), flags=re.MULTILINE)[1:]
    assert entries, "CHANGELOG.md has no entry"
    newest = entries[0]
    assert fingerprint(BASELINE.read_text()) in newest, (
        "schema.baseline.graphql changed without a CHANGELOG.md entry naming it: add one"
        " that says what changed for clients, with the line `Baseline: `"
        + fingerprint(BASELINE.read_text())
        + "`"
    )
