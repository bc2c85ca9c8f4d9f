"""SECURITY.md names the tests behind each claim; they must exist, so the table cannot drift."""

from __future__ import annotations

import ast
import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
TEST_NAME = re.compile(r"`(test_\w+)`")


def defined_tests() -> set[str]:
    names: set[str] = set()
    for path in (ROOT / "tests").rglob("test_*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.FunctionDef) and node.name.startswith("test_"):
                names.add(node.name)
    return names


def bad_input_rows() -> list[str]:
    text = (ROOT / "SECURITY.md").read_text()
    table = text.split("## Bad input and what the service answers", 1)[1].split("\n## ", 1)[0]
    return [line for line in table.splitlines() if line.startswith("| ")][1:]


def test_every_test_named_in_security_md_exists():
    named = set(TEST_NAME.findall((ROOT / "SECURITY.md").read_text()))
    assert len(named) >= 30
    missing = sorted(named - defined_tests())
    assert missing == [], f"SECURITY.md names tests that do not exist: {missing}"


def test_every_row_of_the_bad_input_table_names_a_test():
    rows = bad_input_rows()
    assert len(rows) >= 25
    for row in rows:
        assert row.startswith("| ---") or TEST_NAME.search(row.split("|")[-2]), row
