"""The shared test helpers that decide a test's fate."""

from __future__ import annotations

import pytest

from tests.support import skip_unless_ci


def test_a_missing_tool_skips_on_a_developer_machine(monkeypatch):
    monkeypatch.delenv("CI", raising=False)
    with pytest.raises(pytest.skip.Exception, match=r"^no java$"):
        skip_unless_ci("no java", "Java is required")


def test_a_missing_tool_fails_under_ci_naming_what_is_needed(monkeypatch):
    monkeypatch.setenv("CI", "true")
    with pytest.raises(pytest.fail.Exception, match="Java is required under CI=true, but no java"):
        skip_unless_ci("no java", "Java is required")
