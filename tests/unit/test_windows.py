from datetime import UTC, datetime, timedelta, timezone

import pytest

from chalicelib.errors import InvalidInput
from chalicelib.windows import (
    TimeWindow,
    bucket_for,
    buckets_for,
    day_bucket_expiry,
    format_timestamp,
    parse_timestamp,
)

NOW = datetime(2026, 11, 23, 8, 15, 30, 123456, tzinfo=UTC)


def test_timestamps_are_utc_milliseconds_with_z_and_round_trip():
    text = format_timestamp(NOW)
    assert text == "2026-11-23T08:15:30.123Z"
    assert parse_timestamp(text) == NOW.replace(microsecond=123000)


def test_timestamps_from_other_zones_are_written_in_utc():
    tokyo = timezone(timedelta(hours=9))
    assert format_timestamp(datetime(2026, 12, 1, 5, 0, tzinfo=tokyo)) == "2026-11-30T20:00:00.000Z"


@pytest.mark.parametrize(
    "text", ["", "2026-11-23", "2026-11-23T08:15:30+00:00", "2026-13-01T00:00:00Z", "garbage"]
)
def test_parse_timestamp_rejects_anything_else(text):
    with pytest.raises(ValueError):  # noqa: PT011
        parse_timestamp(text)


def test_buckets_are_chosen_in_utc_by_the_favorites_own_time():
    assert buckets_for(NOW) == ("ALL", "MONTH#2026-11", "DAY#2026-11-23")
    late_in_new_york = datetime(2026, 11, 30, 23, 30, tzinfo=timezone(timedelta(hours=-5)))
    assert buckets_for(late_in_new_york) == ("ALL", "MONTH#2026-12", "DAY#2026-12-01")


def test_query_buckets_default_to_the_current_period():
    assert bucket_for(TimeWindow.ALL_TIME, None, NOW) == "ALL"
    assert bucket_for(TimeWindow.MONTH, None, NOW) == "MONTH#2026-11"
    assert bucket_for(TimeWindow.DAY, None, NOW) == "DAY#2026-11-23"


def test_query_buckets_for_past_periods():
    assert bucket_for(TimeWindow.MONTH, "2026-10", NOW) == "MONTH#2026-10"
    assert bucket_for(TimeWindow.DAY, "2024-02-29", NOW) == "DAY#2024-02-29"


@pytest.mark.parametrize(
    ("window", "period", "message"),
    [
        (TimeWindow.ALL_TIME, "2026-10", "must not be given with window ALL_TIME"),
        (TimeWindow.MONTH, "2026-13", "YYYY-MM"),
        (TimeWindow.MONTH, "2026-10-01", "YYYY-MM"),
        (TimeWindow.MONTH, "26-10", "YYYY-MM"),
        (TimeWindow.DAY, "2026-02-30", "YYYY-MM-DD"),
        (TimeWindow.DAY, "2026-10", "YYYY-MM-DD"),
        (TimeWindow.DAY, "2026-1-01", "YYYY-MM-DD"),
    ],
)
def test_bad_periods_say_what_is_wrong(window, period, message):
    with pytest.raises(InvalidInput, match=message):
        bucket_for(window, period, NOW)


def test_only_day_buckets_expire_after_the_retention():
    assert day_bucket_expiry("ALL", 90) is None
    assert day_bucket_expiry("MONTH#2026-11", 90) is None
    expiry = day_bucket_expiry("DAY#2026-11-23", 90)
    assert expiry == int(datetime(2027, 2, 22, tzinfo=UTC).timestamp())
