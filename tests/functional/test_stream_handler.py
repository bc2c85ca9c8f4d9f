"""The stream handler, invoked as Lambda invokes it, on moto."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from chalicelib.counts import MARKER_PREFIX
from tests.support import COUNTS_TABLE, graphql, stream_event, stream_record

NOV = datetime(2026, 11, 23, 10, 0, tzinfo=UTC)
OCT = datetime(2026, 10, 31, 23, 0, tzinfo=UTC)


def counts(dynamodb: Any) -> dict[tuple[str, str], int]:
    items = dynamodb.scan(TableName=COUNTS_TABLE)["Items"]
    return {
        (item["restaurant_id"]["S"], item["bucket"]["S"]): int(item["favorite_count"]["N"])
        for item in items
        if not item["restaurant_id"]["S"].startswith(MARKER_PREFIX)
    }


def item(dynamodb: Any, restaurant: str, bucket: str) -> dict[str, Any]:
    key = {"restaurant_id": {"S": restaurant}, "bucket": {"S": bucket}}
    return dict(dynamodb.get_item(TableName=COUNTS_TABLE, Key=key)["Item"])


def invoke(client: Any, records: list[dict[str, Any]]) -> Any:
    return client.lambda_.invoke("aggregate_favorites", stream_event(records)).payload


def test_inserts_and_removes_become_counts_per_bucket(client, dynamodb):
    response = invoke(
        client,
        [
            stream_record("INSERT", "r1", "u1", NOV),
            stream_record("INSERT", "r1", "u2", NOV),
            stream_record("INSERT", "r2", "u1", OCT),
            stream_record("MODIFY", "r2", "u1", OCT),
            stream_record("REMOVE", "r2", "u1", OCT),
            stream_record("INSERT", "r2", "u3", NOV),
        ],
    )
    assert response == {"batchItemFailures": []}
    assert counts(dynamodb) == {
        ("r1", "ALL"): 2,
        ("r1", "MONTH#2026-11"): 2,
        ("r1", "DAY#2026-11-23"): 2,
        # r2's October favorite and its removal cancelled out within the batch.
        ("r2", "ALL"): 1,
        ("r2", "MONTH#2026-11"): 1,
        ("r2", "DAY#2026-11-23"): 1,
    }


def test_a_removal_in_december_decrements_the_october_buckets(client, dynamodb):
    invoke(client, [stream_record("INSERT", "r1", "u1", OCT)])
    invoke(client, [stream_record("REMOVE", "r1", "u1", OCT, approximate_creation=1_796_000_000.0)])
    assert counts(dynamodb) == {
        ("r1", "ALL"): 0,
        ("r1", "MONTH#2026-10"): 0,
        ("r1", "DAY#2026-10-31"): 0,
    }


def test_count_items_carry_rank_partition_updated_at_and_day_ttl(client, dynamodb):
    invoke(client, [stream_record("INSERT", "r1", "u1", NOV)])
    day = item(dynamodb, "r1", "DAY#2026-11-23")
    assert day["rank_partition"] == {"S": "DAY#2026-11-23#0"}
    assert day["updated_at"]["S"].endswith("Z")
    assert int(day["expires_at"]["N"]) == int(datetime(2027, 2, 22, tzinfo=UTC).timestamp())
    month = item(dynamodb, "r1", "MONTH#2026-11")
    assert month["rank_partition"] == {"S": "MONTH#2026-11#0"}
    assert "expires_at" not in month


def test_markers_record_each_event_without_entering_the_ranking(client, dynamodb):
    record = stream_record("INSERT", "r1", "u1", NOV)
    invoke(client, [record])
    marker = item(dynamodb, MARKER_PREFIX + record["eventID"], "MARKER")
    assert "rank_partition" not in marker
    assert marker["sequence_number"] == {"S": record["dynamodb"]["SequenceNumber"]}
    ttl = int(marker["expires_at"]["N"]) - datetime.now(UTC).timestamp()
    assert 2 * 86400 - 60 < ttl <= 2 * 86400


def test_a_redelivered_batch_is_not_counted_twice(client, dynamodb):
    batch = [stream_record("INSERT", f"r{i}", "u1", NOV) for i in range(3)]
    invoke(client, batch)
    invoke(client, batch)
    invoke(client, [*batch[1:], stream_record("INSERT", "r0", "u2", NOV)])
    assert counts(dynamodb)[("r0", "ALL")] == 2
    assert counts(dynamodb)[("r1", "ALL")] == 1
    assert counts(dynamodb)[("r2", "ALL")] == 1


def test_poison_records_are_skipped_and_the_rest_applied(client, dynamodb):
    response = invoke(
        client,
        [
            stream_record("INSERT", "r1", "u1", NOV),
            stream_record("REMOVE", "r1", "u9", created_at="not a time"),
            stream_record("INSERT", new_image={"nothing": {"S": "useful"}}),
            stream_record("INSERT", "r1", "u2", NOV),
        ],
    )
    assert response == {"batchItemFailures": []}
    assert counts(dynamodb)[("r1", "ALL")] == 2


def test_a_failed_write_names_the_first_record_not_applied(client, dynamodb, serve):
    from devtools.faults import FaultyClient, invalid

    # The second transaction fails with an error no retry can fix.
    serve(dynamodb=FaultyClient(dynamodb, before={2: invalid}))
    # 30 restaurants on one day: 25 fit in the first chunk (100 actions).
    batch = [stream_record("INSERT", f"r{i:02d}", "u1", NOV) for i in range(30)]
    response = invoke(client, batch)
    assert response == {
        "batchItemFailures": [{"itemIdentifier": batch[25]["dynamodb"]["SequenceNumber"]}]
    }
    applied = counts(dynamodb)
    assert applied[("r24", "ALL")] == 1
    assert ("r25", "ALL") not in applied


def test_a_late_remove_past_day_retention_never_makes_a_count_negative(client, dynamodb):
    # Counted when fresh; 100 days later (retention 90) TTL has deleted the day item.
    created = datetime.now(UTC) - timedelta(days=100)
    day, month = f"DAY#{created:%Y-%m-%d}", f"MONTH#{created:%Y-%m}"
    for bucket in ("ALL", month):
        dynamodb.put_item(
            TableName=COUNTS_TABLE,
            Item={
                "restaurant_id": {"S": "r1"},
                "bucket": {"S": bucket},
                "favorite_count": {"N": "1"},
            },
        )
    assert invoke(client, [stream_record("REMOVE", "r1", "u1", created)]) == {
        "batchItemFailures": []
    }
    assert counts(dynamodb) == {("r1", "ALL"): 0, ("r1", month): 0}
    query = (
        'query Q($period: String) { restaurant(id: "r1") '
        "{ favoriteCount(window: DAY, period: $period) } "
        "topRestaurants(window: DAY, period: $period) { edges { favoriteCount } } }"
    )
    answer = graphql(client, query, {"period": day[4:]}, public=True)
    assert answer == {"data": {"restaurant": {"favoriteCount": 0}, "topRestaurants": {"edges": []}}}


def test_a_negative_count_item_reads_as_zero(client, dynamodb):
    # Drift (the reconciler reports and repairs it) is never shown as a count below zero.
    dynamodb.put_item(
        TableName=COUNTS_TABLE,
        Item={"restaurant_id": {"S": "r1"}, "bucket": {"S": "ALL"}, "favorite_count": {"N": "-1"}},
    )
    answer = graphql(client, '{ restaurant(id: "r1") { favoriteCount } }', public=True)
    assert answer == {"data": {"restaurant": {"favoriteCount": 0}}}
