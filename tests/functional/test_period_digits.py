"""A period in non-ASCII digits answers BAD_USER_INPUT through the API, not an empty ranking."""

from __future__ import annotations

import pytest

from tests.support import error_codes, graphql

TOP = """
query Top($window: TimeWindow!, $period: String) {
  topRestaurants(window: $window, period: $period) {
    edges { favoriteCount node { id } }
  }
}
"""


@pytest.mark.parametrize(
    ("window", "period", "message"),
    [
        (
            "MONTH",
            "\uff12\uff10\uff12\uff16-\uff11\uff11",
            "period for window MONTH must be a month as YYYY-MM",
        ),
        (
            "DAY",
            "\u0662\u0660\u0662\u0666-\u0661\u0661-\u0662\u0663",
            "period for window DAY must be a date as YYYY-MM-DD",
        ),
        ("DAY", "2026-11-2\u0663", "period for window DAY must be a date as YYYY-MM-DD"),
    ],
)
def test_a_period_in_other_digits_is_bad_user_input(client, window, period, message):
    result = graphql(client, TOP, {"window": window, "period": period}, user="alice")
    assert error_codes(result) == ["BAD_USER_INPUT"]
    assert result["errors"][0]["message"] == f"{message}, got {period!r}"
    # No ranking at all, not an empty one: the field is null and the error names it.
    assert result["data"] == {"topRestaurants": None}
    assert result["errors"][0]["path"] == ["topRestaurants"]
