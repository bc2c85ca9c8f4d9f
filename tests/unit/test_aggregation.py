from datetime import UTC, datetime

import pytest

from chalicelib.stream.plan import MAX_TRANSACTION_ACTIONS, plan_chunks, sum_deltas
from chalicelib.stream.records import FavoriteEvent, SkippedRecord, parse_record
from chalicelib.stream.writer import backoff_delay, read_cancellation
from tests.support import FAVORITES_TABLE, stream_record

NOV = datetime(2026, 11, 23, 10, 0, tzinfo=UTC)
OCT = datetime(2026, 10, 31, 23, 59, tzinfo=UTC)


def event(restaurant: str, delta: int = 1, created: datetime = NOV, n: int = 0) -> FavoriteEvent:
    return FavoriteEvent(f"e{n}", str(1000 + n), restaurant, f"u{n}", created, delta)


def test_insert_counts_plus_one_from_the_new_image():
    parsed = parse_record(stream_record("INSERT", "r1", "u1", NOV), FAVORITES_TABLE)
    assert isinstance(parsed, FavoriteEvent)
    assert (parsed.restaurant_id, parsed.user_id, parsed.delta) == ("r1", "u1", 1)
    assert parsed.created_at == NOV


def test_remove_counts_minus_one_in_the_buckets_of_the_old_image():
    record = stream_record("REMOVE", "r1", "u1", OCT)
    parsed = parse_record(record, FAVORITES_TABLE)
    assert isinstance(parsed, FavoriteEvent)
    assert parsed.delta == -1
    assert parsed.count_keys() == [("r1", "ALL"), ("r1", "MONTH#2026-10"), ("r1", "DAY#2026-10-31")]


def test_ttl_deletions_are_removes_like_any_other():
    identity = {"type": "Service", "principalId": "dynamodb.amazonaws.com"}
    parsed = parse_record(stream_record("REMOVE", created_at=OCT, user_identity=identity))
    assert isinstance(parsed, FavoriteEvent)
    assert parsed.delta == -1


def test_modify_and_other_tables_are_ignored_not_poison():
    modify = parse_record(stream_record("MODIFY", created_at=NOV), FAVORITES_TABLE)
    assert isinstance(modify, SkippedRecord)
    assert not modify.poison
    other = stream_record(
        "INSERT", created_at=NOV, stream_arn="arn:aws:dynamodb:us-east-1:1:table/other/stream/x"
    )
    skipped = parse_record(other, FAVORITES_TABLE)
    assert isinstance(skipped, SkippedRecord)
    assert "other" in skipped.reason
    assert not skipped.poison


@pytest.mark.parametrize(
    ("record", "reason"),
    [
        (stream_record("INSERT", new_image={}, created_at=NOV), "restaurant_id"),
        (stream_record("INSERT", "bad id!", created_at=NOV), "restaurant_id"),
        (stream_record("INSERT", user_id="", created_at=NOV), "user_id"),
        (stream_record("REMOVE", created_at=None), "created_at"),
        (stream_record("REMOVE", created_at="yesterday"), "created_at"),
        (stream_record("INSERT", created_at=None, approximate_creation=None), "created_at"),
        (
            stream_record("INSERT", new_image={"restaurant_id": {"N": "1"}, "user_id": {"S": "u"}}),
            "restaurant_id",
        ),
    ],
)
def test_malformed_records_are_poison_with_a_reason(record, reason):
    parsed = parse_record(record, FAVORITES_TABLE)
    assert isinstance(parsed, SkippedRecord)
    assert parsed.poison
    assert reason in parsed.reason
    assert parsed.event_id == record["eventID"]


def test_records_without_ids_are_poison():
    record = stream_record("INSERT", created_at=NOV)
    del record["eventID"]
    parsed = parse_record(record)
    assert isinstance(parsed, SkippedRecord)
    assert parsed.poison


def test_insert_without_created_at_falls_back_to_the_record_time():
    record = stream_record("INSERT", created_at=None, approximate_creation=NOV.timestamp())
    parsed = parse_record(record)
    assert isinstance(parsed, FavoriteEvent)
    assert parsed.created_at == NOV


def test_deltas_are_summed_per_restaurant_and_bucket():
    deltas = sum_deltas(
        [event("r1", n=1), event("r1", n=2), event("r2", n=3), event("r1", -1, OCT, 4)]
    )
    assert deltas[("r1", "ALL")] == 1
    assert deltas[("r1", "MONTH#2026-11")] == 2
    assert deltas[("r1", "MONTH#2026-10")] == -1
    assert deltas[("r2", "DAY#2026-11-23")] == 1


def test_a_favorite_and_its_removal_in_one_chunk_write_only_markers():
    chunks = plan_chunks([event("r1", 1, n=1), event("r1", -1, n=2)])
    assert len(chunks) == 1
    assert chunks[0].deltas == {}
    assert chunks[0].action_count == 2


def test_chunks_hold_at_most_100_actions_and_keep_stream_order():
    # 25 events on one restaurant: 25 markers + 3 buckets = 28 actions.
    same = [event("r1", n=i) for i in range(25)]
    assert [len(c.events) for c in plan_chunks(same)] == [25]
    # 25 events on 25 restaurants, same day: 25 markers + 75 updates = exactly 100.
    spread = [event(f"r{i}", n=i) for i in range(25)]
    chunks = plan_chunks(spread)
    assert len(chunks) == 1
    assert chunks[0].action_count == MAX_TRANSACTION_ACTIONS
    # One more restaurant tips it over.
    chunks = plan_chunks([*spread, event("r99", n=99)])
    assert [c.action_count for c in chunks] == [100, 4]


def test_a_thousand_records_plan_into_full_ordered_chunks():
    events = [event(f"r{i % 300}", 1 if i % 7 else -1, n=i) for i in range(1000)]
    chunks = plan_chunks(events)
    assert all(c.action_count <= MAX_TRANSACTION_ACTIONS for c in chunks)
    assert [e for c in chunks for e in c.events] == events
    total = sum_deltas(events)
    merged: dict[tuple[str, str], int] = {}
    for chunk in chunks:
        for key, delta in chunk.deltas.items():
            merged[key] = merged.get(key, 0) + delta
    assert merged == {k: v for k, v in total.items() if v}


def test_cancellation_reasons_separate_duplicates_from_transient_and_permanent():
    reasons = [
        {"Code": "ConditionalCheckFailed"},
        {"Code": "None"},
        {"Code": "TransactionConflict"},
    ]
    verdict = read_cancellation(reasons, marker_count=2)
    assert verdict.duplicate_markers == frozenset({0})
    assert verdict.transient
    assert verdict.permanent is None

    permanent = read_cancellation(
        [{"Code": "None"}, {"Code": "ValidationError", "Message": "x"}], 1
    )
    assert permanent.permanent is not None
    assert "ValidationError" in permanent.permanent

    # A condition failing on an update (not a marker) is not a duplicate.
    assert read_cancellation([{"Code": "None"}, {"Code": "ConditionalCheckFailed"}], 1).permanent
    assert read_cancellation([], 1).permanent
    assert read_cancellation([{"Code": "None"}], 1).permanent


def test_backoff_grows_exponentially_with_full_jitter_and_a_cap():
    assert backoff_delay(0, lambda: 1.0) == pytest.approx(0.05)
    assert backoff_delay(3, lambda: 1.0) == pytest.approx(0.4)
    assert backoff_delay(30, lambda: 1.0) == pytest.approx(2.0)
    assert backoff_delay(5, lambda: 0.0) == 0.0
