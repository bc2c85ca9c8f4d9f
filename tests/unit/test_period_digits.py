"""Periods and timestamps take ASCII digits only, whatever Unicode calls a digit."""

from __future__ import annotations

import unicodedata
from datetime import UTC, datetime

import pytest
from hypothesis import example, given
from hypothesis import strategies as st

from chalicelib.errors import InvalidInput
from chalicelib.windows import TimeWindow, bucket_for, parse_timestamp

NOW = datetime(2026, 11, 23, 8, 15, 30, tzinfo=UTC)
ASCII_DIGITS = set("0123456789")

# Every character Python would read as a digit somewhere (\d, int(), str.isdigit,
# str.isnumeric) that is not 0-9: decimal digits of other scripts (Nd), fullwidth
# and mathematical digits, superscripts and circled digits (No), Roman numerals (Nl).
not_ascii_digits = st.characters(
    categories=("Nd", "No", "Nl"), exclude_characters="0123456789"
).filter(lambda c: c.isdigit() or c.isdecimal() or c.isnumeric())

VALID = {TimeWindow.MONTH: "2026-10", TimeWindow.DAY: "2024-02-29"}
MESSAGE = {
    TimeWindow.MONTH: "must be a month as YYYY-MM",
    TimeWindow.DAY: "must be a date as YYYY-MM-DD",
}


@given(
    window=st.sampled_from([TimeWindow.MONTH, TimeWindow.DAY]),
    digit=not_ascii_digits,
    position=st.integers(min_value=0, max_value=9),
)
@example(window=TimeWindow.MONTH, digit="\uff12", position=0)  # fullwidth 2
@example(window=TimeWindow.DAY, digit="\u0661", position=9)  # Arabic-Indic 1
def test_a_period_with_any_other_digit_is_bad_user_input(window, digit, position):
    valid = VALID[window]
    digit_positions = [i for i, c in enumerate(valid) if c in ASCII_DIGITS]
    index = digit_positions[position % len(digit_positions)]
    period = valid[:index] + digit + valid[index + 1 :]
    with pytest.raises(InvalidInput, match=MESSAGE[window]) as error:
        bucket_for(window, period, NOW)
    assert repr(period) in str(error.value)


@given(digits=st.lists(not_ascii_digits, min_size=6, max_size=6))
def test_a_period_written_wholly_in_other_digits_is_bad_user_input(digits):
    # Where Unicode gives the digit a decimal value, the period means a real
    # month (fullwidth 2026-11): still refused, not silently read as 2026-11.
    period = "".join(digits[:4]) + "-" + "".join(digits[4:])
    with pytest.raises(InvalidInput, match=MESSAGE[TimeWindow.MONTH]):
        bucket_for(TimeWindow.MONTH, period, NOW)


def test_the_issues_fullwidth_month_is_refused_although_python_reads_it_as_2026_11():
    period = "\uff12\uff10\uff12\uff16-\uff11\uff11"
    assert [unicodedata.decimal(c) for c in period if c != "-"] == [2, 0, 2, 6, 1, 1]
    with pytest.raises(InvalidInput, match="YYYY-MM"):
        bucket_for(TimeWindow.MONTH, period, NOW)


@given(digit=not_ascii_digits, position=st.integers(min_value=0, max_value=22))
def test_a_timestamp_with_any_other_digit_is_not_a_timestamp(digit, position):
    valid = "2026-11-23T08:15:30.123Z"
    index = [i for i, c in enumerate(valid) if c in ASCII_DIGITS][position % 17]
    with pytest.raises(ValueError, match="not a UTC ISO 8601 timestamp"):
        parse_timestamp(valid[:index] + digit + valid[index + 1 :])
