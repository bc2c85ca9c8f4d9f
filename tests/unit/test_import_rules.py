"""app.py is deployed with chalicelib, and held to the same import rule.

``lint-imports`` (make lint) checks the packages; app.py is a lone module,
which import-linter cannot take as a root, so this reads its imports.
"""

from __future__ import annotations

import ast
import sys
import tomllib

from infra.stages import ROOT


def deployed_rule() -> list[str]:
    """The tooling chalicelib may not import, as pyproject.toml's contract names it."""
    config = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["importlinter"]
    (contract,) = [c for c in config["contracts"] if c.get("source_modules") == ["chalicelib"]]
    return list(contract["forbidden_modules"])


def top_level_imports(source: str) -> set[str]:
    found: set[str] = set()
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            found |= {alias.name.split(".")[0] for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
            found.add(node.module.split(".")[0])
    return found


def test_app_imports_no_tooling_only_chalice_chalicelib_and_the_standard_library():
    imported = top_level_imports((ROOT / "app.py").read_text())
    assert imported & set(deployed_rule()) == set()
    assert imported - sys.stdlib_module_names == {"chalice", "chalicelib"}


def test_the_check_sees_a_tooling_import_even_inside_a_function():
    source = "def handler():\n    from local.tokens import token\n    import ops.reshard\n"
    assert top_level_imports(source) & set(deployed_rule()) == {"local", "ops"}
