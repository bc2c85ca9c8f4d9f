"""Exactly-once counts under replays, crashes, conflicts and poison, on DynamoDB Local.

Favorites are written to the real table, so the stream records (eventIDs,
sequence numbers, images) are the engine's own; the tests then hand them to
the handler the ways Lambda may: twice, in overlapping halves, after a crash,
from a ``batchItemFailures`` position, from two shards at once. Every test
ends with the counts equal to the favorites that exist, and the reconciler
finding no drift.
"""

from __future__ import annotations

import random
import threading
import time
from collections import Counter
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any, cast

import pytest

from chalicelib import aws
from chalicelib.counts import MARKER_PREFIX
from chalicelib.favorites import FavoritesStore
from chalicelib.reconcile.reconciler import Reconciler
from chalicelib.stream.batch import process_batch
from chalicelib.stream.report import BatchReport
from chalicelib.stream.writer import CountsWriter
from chalicelib.windows import buckets_for
from devtools.faults import Crash, FaultyClient, conflict, invalid, throttled
from local.stream_worker import StreamWorker
from tests.support import COUNTS_TABLE, FAVORITES_TABLE, stream_record

pytestmark = pytest.mark.integration

Records = list[dict[str, Any]]
# Recent enough that every day bucket is inside retention, and spread over
# three months and many days.
BASE = datetime.now(UTC).replace(microsecond=0) - timedelta(days=75)


class Favorites:
    """The Favorites table as the API writes it, and what the test knows it holds."""

    def __init__(self, client: Any) -> None:
        self.client = client
        self.held: dict[tuple[str, str], datetime] = {}

    def add(self, restaurant: str, user: str, at: datetime) -> None:
        store = FavoritesStore(self.client, FAVORITES_TABLE, clock=lambda: at)
        assert store.add(user, restaurant).changed
        self.held[(restaurant, user)] = at

    def remove(self, restaurant: str, user: str) -> None:
        store = FavoritesStore(self.client, FAVORITES_TABLE)
        assert store.remove(user, restaurant).changed
        del self.held[(restaurant, user)]

    def expected_counts(self) -> Counter[tuple[str, str]]:
        expected: Counter[tuple[str, str]] = Counter()
        for (restaurant, _), at in self.held.items():
            for bucket in buckets_for(at):
                expected[(restaurant, bucket)] += 1
        return expected


@pytest.fixture
def favorites(dynamodb: Any) -> Favorites:
    return Favorites(dynamodb)


class FakeSleep:
    def __init__(self) -> None:
        self.delays: list[float] = []

    def __call__(self, seconds: float) -> None:
        self.delays.append(seconds)


def make_writer(
    client: Any,
    sleep: Callable[[float], None] | None = None,
    rng: Callable[[], float] = random.random,
) -> CountsWriter:
    return CountsWriter(
        client,
        COUNTS_TABLE,
        shards=1,
        day_retention_days=90,
        marker_ttl_seconds=2 * 86400,
        budget_seconds=10,
        sleep=sleep or FakeSleep(),
        rng=rng,
    )


def deliver(writer: CountsWriter, records: Records) -> BatchReport:
    return process_batch(records, writer, favorites_table=FAVORITES_TABLE, now=0.0)


def stored_counts(client: Any) -> Counter[tuple[str, str]]:
    counts: Counter[tuple[str, str]] = Counter()
    for page in client.get_paginator("scan").paginate(TableName=COUNTS_TABLE):
        for item in page["Items"]:
            restaurant = item["restaurant_id"]["S"]
            if not restaurant.startswith(MARKER_PREFIX) and int(item["favorite_count"]["N"]):
                counts[(restaurant, item["bucket"]["S"])] = int(item["favorite_count"]["N"])
    return counts


def assert_exact(client: Any, favorites: Favorites, reconciler: Reconciler) -> None:
    expected = favorites.expected_counts()
    assert expected, "the test wrote no favorites"
    assert stored_counts(client) == expected
    report = reconciler.run()
    assert report.drift == []
    assert report.favorites == len(favorites.held)
    assert report.buckets_checked >= len(expected)


def spread(favorites: Favorites, restaurants: int, users: int, days: int = 40) -> None:
    """Favorites on ``restaurants`` restaurants by ``users`` users over ``days`` days."""
    for r in range(restaurants):
        for u in range(users):
            favorites.add(f"r{r:02d}", f"u{u}", BASE + timedelta(days=(r * users + u) % days))


@pytest.mark.parametrize(
    "deliveries",
    [
        pytest.param(lambda rs: [rs, rs], id="twice"),
        pytest.param(lambda rs: [rs, rs, rs], id="three-times"),
        pytest.param(lambda rs: [rs[: len(rs) * 2 // 3], rs[len(rs) // 3 :]], id="overlapping"),
        pytest.param(
            lambda rs: [rs[: len(rs) // 2], rs[len(rs) // 2 :], rs[len(rs) // 4 :]],
            id="bisected-then-replayed",
        ),
    ],
)
def test_a_batch_delivered_again_is_counted_once(
    dynamodb, favorites, stream_records, reconciler, deliveries
):
    spread(favorites, restaurants=6, users=5)
    favorites.remove("r01", "u2")
    favorites.remove("r03", "u0")
    records = stream_records()
    assert len(records) == 32
    writer = make_writer(dynamodb)
    reports = [deliver(writer, batch) for batch in deliveries(records)]
    assert all(report.failed_sequence_number is None for report in reports)
    delivered = sum(report.records for report in reports)
    assert sum(report.applied for report in reports) == len(records)
    assert sum(report.duplicates for report in reports) == delivered - len(records)
    assert_exact(dynamodb, favorites, reconciler)


def test_a_crash_after_the_first_chunk_committed_then_the_whole_batch_again(
    dynamodb, favorites, stream_records, reconciler
):
    # 40 restaurants on one day: chunks of 25 and 15 events.
    for r in range(40):
        favorites.add(f"c{r:02d}", "u1", BASE)
    records = stream_records()
    crashing = make_writer(FaultyClient(dynamodb, after={1: lambda _: Crash()}))
    with pytest.raises(Crash):
        deliver(crashing, records)
    assert len(stored_counts(dynamodb)) == 25 * 3  # the first chunk did commit

    retried = deliver(make_writer(dynamodb), records)
    assert (retried.duplicates, retried.applied, retried.chunks) == (25, 15, 2)
    assert_exact(dynamodb, favorites, reconciler)


def test_batch_item_failures_make_lambda_redeliver_from_the_named_record(
    settings, dynamodb, favorites, stream_records, reconciler
):
    for r in range(60):
        favorites.add(f"b{r:02d}", "u1", BASE + timedelta(days=r % 3))
    records = stream_records()
    # The second chunk fails once, permanently as far as that invocation knows.
    writer = make_writer(FaultyClient(dynamodb, before={2: invalid}))
    answers: list[Any] = []

    def handler(event: dict[str, Any], context: Any) -> Any:
        report = process_batch(event["Records"], writer, favorites_table=FAVORITES_TABLE, now=0.0)
        answers.append(report.response())
        return report.response()

    worker = StreamWorker(
        streams=aws.dynamodb_streams(settings),
        stream_arn=records[0]["eventSourceARN"],
        handler=handler,
    )
    assert worker.drain() == 60 + 35  # the first batch, then the rest again
    assert answers[0] == {
        "batchItemFailures": [{"itemIdentifier": records[25]["dynamodb"]["SequenceNumber"]}]
    }
    assert worker.stats.redeliveries == 1
    assert answers[1:] == [{"batchItemFailures": []}]
    assert_exact(dynamodb, favorites, reconciler)


def test_two_workers_apply_interleaved_batches_concurrently(
    dynamodb, favorites, stream_records, reconciler
):
    spread(favorites, restaurants=4, users=15, days=3)  # hot items: few restaurants
    for u in range(0, 15, 4):
        favorites.remove("r02", f"u{u}")
    records = stream_records()
    # Two "shards" that each carry every record, in opposite batch orders, so
    # both workers write the same markers and counts at the same time.
    forward = [records[i : i + 7] for i in range(0, len(records), 7)]
    backward = [records[i : i + 5] for i in range(0, len(records), 5)][::-1]
    start = threading.Barrier(2)
    reports: list[BatchReport] = []
    errors: list[BaseException] = []

    def run(batches: list[Records]) -> None:
        # Real sleeps: the backoff is what resolves real contention.
        writer = make_writer(dynamodb, sleep=time.sleep)
        try:
            start.wait()
            for batch in batches:
                pending = batch
                while pending:
                    report = deliver(writer, pending)
                    reports.append(report)
                    failed = report.failed_sequence_number
                    # Lambda redelivers from the named record.
                    pending = [
                        r
                        for r in pending
                        if failed and int(r["dynamodb"]["SequenceNumber"]) >= int(failed)
                    ]
        except BaseException as error:  # surfaced in the main thread below
            errors.append(error)

    threads = [threading.Thread(target=run, args=(b,)) for b in (forward, backward)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    assert errors == []
    assert sum(r.applied for r in reports) == len(records)
    assert sum(r.duplicates for r in reports) >= len(records)
    assert_exact(dynamodb, favorites, reconciler)


def test_conflicts_and_throttling_are_recovered_by_the_backoff(
    dynamodb, favorites, stream_records, reconciler
):
    for r in range(40):
        favorites.add(f"t{r:02d}", "u1", BASE + timedelta(days=r % 2))
    records = stream_records()
    sleep = FakeSleep()
    client = FaultyClient(
        dynamodb, before={1: conflict, 2: throttled, 3: conflict, 5: throttled, 6: conflict}
    )
    # The jitter pinned to its ceiling, so the delays show the exponential growth.
    report = deliver(make_writer(client, sleep, rng=lambda: 1.0), records)
    assert report.failed_sequence_number is None
    assert (report.applied, report.retries, client.faults_raised) == (40, 5, 5)
    # Three retries of the first chunk, then two of the second (each chunk starts over).
    assert sleep.delays == pytest.approx([0.05, 0.1, 0.2, 0.05, 0.1])
    assert_exact(dynamodb, favorites, reconciler)


def test_a_batch_that_outlasts_its_budget_is_handed_back_then_applied_once(
    dynamodb, favorites, stream_records, reconciler
):
    for r in range(30):
        favorites.add(f"x{r:02d}", "u1", BASE)
    records = stream_records()
    clock = {"now": 0.0}

    def sleep(seconds: float) -> None:
        clock["now"] += seconds

    # The second chunk is throttled for good: the writer gives up within the budget.
    throttling = FaultyClient(dynamodb, before=dict.fromkeys(range(2, 100), throttled))
    writer = CountsWriter(
        cast(Any, throttling),
        COUNTS_TABLE,
        shards=1,
        day_retention_days=90,
        marker_ttl_seconds=2 * 86400,
        budget_seconds=3,
        monotonic=lambda: clock["now"],
        sleep=sleep,
    )
    report = deliver(writer, records)
    assert report.failed_sequence_number == records[25]["dynamodb"]["SequenceNumber"]
    assert report.applied == 25
    assert clock["now"] <= 3
    redelivered = deliver(make_writer(dynamodb), records[25:])
    assert (redelivered.applied, redelivered.failed_sequence_number) == (5, None)
    assert_exact(dynamodb, favorites, reconciler)


def test_poison_records_are_skipped_without_blocking_the_good_ones(
    dynamodb, favorites, stream_records, reconciler
):
    spread(favorites, restaurants=3, users=4, days=5)
    favorites.remove("r00", "u1")
    records = stream_records()
    poison = [
        stream_record("INSERT", new_image={"junk": {"S": "x"}}),
        stream_record("INSERT", "not a valid id!", "u1", BASE),
        stream_record("REMOVE", "r00", "u3", created_at=None),
        stream_record("INSERT", "r00", "u9", created_at=None, approximate_creation=None),
        stream_record("REMOVE", "r01", "u0", created_at="last tuesday"),
    ]
    ignored = [
        stream_record("MODIFY", "r00", "u0", BASE),
        stream_record(
            "INSERT", "r00", "u7", BASE, stream_arn="arn:aws:dynamodb:x:1:table/other/stream/y"
        ),
    ]
    mixed = list(records)
    for offset, record in enumerate(poison + ignored):
        mixed.insert(offset * 2 + 1, record)
    writer = make_writer(dynamodb)
    first = deliver(writer, mixed)
    assert first.failed_sequence_number is None
    assert (first.applied, first.skipped, first.poison) == (len(records), 7, 5)
    assert first.poison_event_ids == [record["eventID"] for record in poison]
    again = deliver(writer, mixed[::-1][: len(mixed) // 2])  # replayed, in any order
    assert again.applied == 0
    assert_exact(dynamodb, favorites, reconciler)


@pytest.mark.parametrize("seed", [7, 42, 2026])
def test_a_random_history_with_random_redeliveries_counts_exactly(
    dynamodb, favorites, stream_records, reconciler, seed
):
    rng = random.Random(seed)
    restaurants = [f"q{r}" for r in range(5)]
    users = [f"u{u}" for u in range(6)]
    writer = make_writer(dynamodb)
    delivered = 0  # Lambda's checkpoint: records before it are done
    for _ in range(3):
        # A burst of favorites, unfavorites and refavorites over three months.
        for _ in range(25):
            key = (rng.choice(restaurants), rng.choice(users))
            if key in favorites.held:
                favorites.remove(*key)
            else:
                at = BASE + timedelta(days=rng.randrange(75), minutes=rng.randrange(1440))
                favorites.add(*key, at)
        records = stream_records()
        while delivered < len(records):
            batch = records[delivered : delivered + rng.randint(1, 30)]
            fault = rng.random()
            if fault < 0.15:
                # The invocation dies after its first transaction committed.
                crashing = make_writer(FaultyClient(dynamodb, after={1: lambda _: Crash()}))
                with pytest.raises(Crash):
                    deliver(crashing, batch)
                continue  # Lambda retries the same batch
            client = FaultyClient(dynamodb, before={1: conflict}) if fault < 0.3 else dynamodb
            report = deliver(make_writer(client), batch)
            assert report.failed_sequence_number is None
            delivered += len(batch)
            if rng.random() < 0.3:
                # An older stretch comes round again (retry, bisection, replay).
                start = rng.randrange(delivered)
                assert deliver(writer, records[start:delivered]).applied == 0
    assert_exact(dynamodb, favorites, reconciler)
