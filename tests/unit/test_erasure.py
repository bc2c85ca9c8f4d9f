"""The erasure's pure parts: the request, the hash, when to stop, the run loop on a fake."""

from __future__ import annotations

import hashlib
import json
import logging
from collections.abc import Mapping, Sequence
from typing import Any

import pytest

from chalicelib.erasure import (
    MALFORMED_MESSAGE,
    PROGRESS_MESSAGE,
    RECEIPT_MESSAGE,
    MalformedRequest,
    Settling,
    erase,
    handle_erasure_batch,
    parse_request,
    user_hash,
)
from chalicelib.metrics import MetricSpace


class Clock:
    """A monotonic clock that moves only when the code sleeps or a store call costs time."""

    def __init__(self) -> None:
        self.now = 1000.0
        self.slept: list[float] = []

    def __call__(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.slept.append(seconds)
        self.now += seconds


class FakeFavorites:
    """A user's favorites and an index that shows a write ``lag`` seconds late.

    ``on_delete`` runs after each delete call: the user favoriting meanwhile.
    """

    def __init__(
        self, clock: Clock, page_size: int = 3, lag: float = 0.0, cost: float = 0.01
    ) -> None:
        self.clock = clock
        # Seconds each page read and each delete call takes.
        self.cost = cost
        self.page_size = page_size
        self.lag = lag
        # (user, restaurant) -> when it was written
        self.rows: dict[tuple[str, str], float] = {}
        # Index entries of deleted rows linger for ``lag`` seconds too.
        self.gone: dict[tuple[str, str], float] = {}
        self.deletes = 0
        self.pages = 0
        self.on_delete: Any = None

    def add(self, user: str, restaurant: str) -> None:
        self.rows[(user, restaurant)] = self.clock()

    def page(
        self, user_id: str, start: Mapping[str, Any] | None = None
    ) -> tuple[list[str], dict[str, Any] | None]:
        self.pages += 1
        self.clock.now += self.cost
        visible = sorted(
            {
                r
                for (u, r), at in self.rows.items()
                if u == user_id and at + self.lag <= self.clock()
            }
            | {
                r
                for (u, r), at in self.gone.items()
                if u == user_id and at + self.lag > self.clock()
            }
        )
        after = str(start["r"]) if start else ""
        rest = [r for r in visible if r > after]
        page = rest[: self.page_size]
        more = len(rest) > self.page_size
        return page, ({"r": page[-1]} if more else None)

    def delete(self, user_id: str, restaurant_ids: Sequence[str]) -> int:
        existed = 0
        for restaurant in restaurant_ids:
            self.deletes += 1
            if self.rows.pop((user_id, restaurant), None) is not None:
                existed += 1
                self.gone[(user_id, restaurant)] = self.clock()
        self.clock.now += self.cost
        if self.on_delete is not None:
            self.on_delete()
        return existed

    def left(self, user: str) -> set[str]:
        return {r for (u, r) in self.rows if u == user}


@pytest.mark.parametrize(
    ("body", "reason"),
    [
        ("", "not JSON"),
        ("{user_id: u1}", "not JSON"),
        ('["u1"]', "not a JSON object"),
        ('"u1"', "not a JSON object"),
        ("{}", 'no "user_id" (0 other keys)'),
        ('{"userId": "u1"}', 'no "user_id" (1 other keys)'),
        ('{"user_id": "u1", "also": "u2"}', '1 keys besides "user_id"'),
        ('{"user_id": ""}', "id rule"),
        ('{"user_id": 7}', "id rule"),
        ('{"user_id": null}', "id rule"),
        ('{"user_id": "u1/../u2"}', "id rule"),
        ('{"user_id": "' + "u" * 129 + '"}', "id rule"),
    ],
)
def test_a_malformed_request_says_why_without_echoing_the_body(body, reason):
    with pytest.raises(MalformedRequest) as raised:
        parse_request(body)
    assert reason in str(raised.value)
    # Neither the values nor the other keys: a key could be an id too.
    for echoed in ("u1", "u2", "userId", "also"):
        assert echoed not in str(raised.value)


def test_a_request_names_exactly_one_user():
    assert parse_request('{"user_id": "3f2a-c1:user_9"}') == "3f2a-c1:user_9"


def test_the_receipts_hash_is_sha256_over_a_prefix_and_the_id():
    digest = user_hash("u1")
    assert digest == hashlib.sha256(b"favorites-erasure-receipt/1\x00u1").hexdigest()
    # Not the bare sha256 of the id: the receipt's hash matches no other hash of it.
    assert digest != hashlib.sha256(b"u1").hexdigest()
    assert user_hash("u1") == digest
    assert user_hash("u2") != digest


def test_settling_ends_only_after_two_empty_passes_settle_seconds_apart():
    settling = Settling(settle_seconds=1.0)
    # Something found and deleted: go again at once.
    assert settling.after_pass(began=0.0, found=3, deleted=3, now=0.1) == 0.0
    # First empty pass: wait out the rest of the settle interval.
    assert settling.after_pass(began=0.2, found=0, deleted=0, now=0.3) == pytest.approx(0.9)
    # Empty again, but too soon (0.5 s after the first empty pass began).
    assert settling.after_pass(began=0.7, found=0, deleted=0, now=0.8) == pytest.approx(0.4)
    # A favorite turned up in between: the count starts over.
    assert settling.after_pass(began=1.0, found=1, deleted=1, now=1.1) == 0.0
    assert settling.after_pass(began=1.2, found=0, deleted=0, now=1.3) == pytest.approx(0.9)
    assert settling.after_pass(began=2.2, found=0, deleted=0, now=2.3) is None


def test_settling_waits_when_the_index_shows_only_favorites_already_gone():
    settling = Settling(settle_seconds=0.5)
    assert settling.after_pass(began=0.0, found=4, deleted=0, now=0.1) == 0.5
    assert settling.empty_since is None


def test_erase_deletes_every_page_and_ends_after_two_empty_passes():
    clock = Clock()
    store = FakeFavorites(clock, page_size=3)
    for n in range(10):
        store.add("u1", f"r{n:02d}")
    store.add("u2", "r00")
    receipt = erase(store, "u1", settle_seconds=1.0, monotonic=clock, sleep=clock.sleep)
    assert receipt.finished
    assert receipt.deleted == 10
    assert store.left("u1") == set()
    assert store.left("u2") == {"r00"}  # another user's favorite of the same restaurant
    # Pass 1 deletes 4 pages, then two empty passes a settle interval apart.
    assert receipt.passes == 3
    assert receipt.pages == 4 + 1 + 1
    assert clock.slept == [pytest.approx(1.0 - 0.01, abs=0.02)]
    assert receipt.finished_at is not None


def test_a_user_favoriting_during_the_erasure_ends_with_nothing_left():
    clock = Clock()
    store = FakeFavorites(clock, page_size=2)
    for n in range(6):
        store.add("u1", f"r{n}")
    added = iter(f"new{n}" for n in range(5))

    def favorite_meanwhile() -> None:
        restaurant = next(added, None)
        if restaurant is not None:
            store.add("u1", restaurant)

    store.on_delete = favorite_meanwhile
    receipt = erase(store, "u1", settle_seconds=1.0, monotonic=clock, sleep=clock.sleep)
    assert receipt.finished
    assert store.left("u1") == set()
    assert receipt.deleted == 11


def test_an_index_that_lags_is_waited_for_within_the_settle_interval():
    # Every write reaches the index 0.5 s late: a favorite written just before
    # the first empty pass is still found by the second, a settle interval later.
    clock = Clock()
    store = FakeFavorites(clock, page_size=5, lag=0.5)
    for n in range(3):
        store.add("u1", f"r{n}")
    clock.now += 1.0  # written a while ago: visible
    late = {"done": False}

    def favorite_once() -> None:
        if not late["done"]:
            late["done"] = True
            store.add("u1", "late")  # not visible to the next pass

    store.on_delete = favorite_once
    receipt = erase(store, "u1", settle_seconds=1.0, monotonic=clock, sleep=clock.sleep)
    assert receipt.finished
    assert store.left("u1") == set()
    assert receipt.deleted == 4


def test_a_deadline_stops_between_pages_and_a_second_run_finishes():
    clock = Clock()
    store = FakeFavorites(clock, page_size=2)
    for n in range(10):
        store.add("u1", f"r{n}")
    first = erase(
        store, "u1", settle_seconds=1.0, deadline=clock() + 0.05, monotonic=clock, sleep=clock.sleep
    )
    assert not first.finished
    assert first.finished_at is None
    assert 0 < first.deleted < 10
    second = erase(store, "u1", settle_seconds=1.0, monotonic=clock, sleep=clock.sleep)
    assert second.finished
    assert first.deleted + second.deleted == 10
    assert store.left("u1") == set()


def test_an_erasure_of_nobody_writes_nothing():
    clock = Clock()
    store = FakeFavorites(clock)
    receipt = erase(store, "u1", settle_seconds=0.2, monotonic=clock, sleep=clock.sleep)
    assert (receipt.finished, receipt.deleted, receipt.passes) == (True, 0, 2)
    assert store.deletes == 0


def sqs_record(body: str, message_id: str = "m-1", receives: str = "1") -> dict[str, Any]:
    return {
        "messageId": message_id,
        "body": body,
        "attributes": {"ApproximateReceiveCount": receives},
    }


def report_lines(caplog: pytest.LogCaptureFixture, message: str) -> list[dict[str, Any]]:
    return [r.fields for r in caplog.records if r.getMessage() == message]  # type: ignore[attr-defined]


def test_the_queue_handler_logs_one_receipt_with_the_erased_metric(caplog):
    caplog.set_level(logging.INFO, logger="chalicelib")
    clock = Clock()
    store = FakeFavorites(clock)
    for n in range(4):
        store.add("u1", f"r{n}")
    space = MetricSpace.for_stage("Favorites", "test")
    answer = handle_erasure_batch(
        [sqs_record('{"user_id": "u1"}')],
        store,
        None,
        settle_seconds=0.0,
        metrics=space,
        monotonic=clock,
    )
    assert answer == {"batchItemFailures": []}
    (line,) = report_lines(caplog, RECEIPT_MESSAGE)
    assert line["user_hash"] == user_hash("u1")
    assert line["erased"] == 4
    assert line["finished"] is True
    assert line["finished_at"].endswith("Z")
    assert (line["source"], line["message_id"], line["receive_count"]) == ("queue", "m-1", 1)
    (directive,) = line["_aws"]["CloudWatchMetrics"]
    assert directive["Metrics"] == [{"Name": "erased", "Unit": "Count"}]
    assert "u1" not in json.dumps(line).replace(user_hash("u1"), "")


def test_a_malformed_message_is_reported_failed_and_logged_without_its_body(caplog):
    caplog.set_level(logging.INFO, logger="chalicelib")
    clock = Clock()
    store = FakeFavorites(clock)
    store.add("u1", "r1")
    answer = handle_erasure_batch(
        [sqs_record('{"user": "u1"}', "bad", "3")], store, 100.0, monotonic=clock
    )
    # Received again until the queue's maxReceiveCount moves it to the dead letters.
    assert answer == {"batchItemFailures": [{"itemIdentifier": "bad"}]}
    (line,) = report_lines(caplog, MALFORMED_MESSAGE)
    assert line == {
        "message_id": "bad",
        "reason": 'the body has no "user_id" (1 other keys)',
        "receive_count": 3,
    }
    (record,) = [r for r in caplog.records if r.getMessage() == MALFORMED_MESSAGE]
    assert record.levelno == logging.ERROR
    assert store.left("u1") == {"r1"}  # nothing erased
    assert report_lines(caplog, RECEIPT_MESSAGE) == []


def test_an_erasure_that_runs_out_of_time_is_reported_failed_to_continue(caplog):
    caplog.set_level(logging.INFO, logger="chalicelib")
    clock = Clock()
    store = FakeFavorites(clock, page_size=2)
    for n in range(40):
        store.add("u1", f"r{n:02d}")
    # 0.1 s left, 0.09 s after the margin (a tenth here): a few pages of 0.02 s each.
    answer = handle_erasure_batch(
        [sqs_record('{"user_id": "u1"}')], store, 0.1, settle_seconds=0.0, monotonic=clock
    )
    assert answer == {"batchItemFailures": [{"itemIdentifier": "m-1"}]}
    (progress,) = report_lines(caplog, PROGRESS_MESSAGE)
    assert progress["finished"] is False
    assert 0 < progress["erased"] < 40
    assert report_lines(caplog, RECEIPT_MESSAGE) == []
    # The next receive goes on from what is left.
    answer = handle_erasure_batch(
        [sqs_record('{"user_id": "u1"}', receives="2")],
        store,
        None,
        settle_seconds=0.0,
        monotonic=clock,
    )
    assert answer == {"batchItemFailures": []}
    (receipt,) = report_lines(caplog, RECEIPT_MESSAGE)
    assert progress["erased"] + receipt["erased"] == 40
    assert store.left("u1") == set()


def test_a_long_invocation_keeps_ten_seconds_back_for_the_answer(caplog):
    caplog.set_level(logging.INFO, logger="chalicelib")
    clock = Clock()
    store = FakeFavorites(clock, page_size=1, cost=1.0)  # 2 s a page
    for n in range(100):
        store.add("u1", f"r{n:03d}")
    started = clock()
    # 100 s left: the run stops between pages once 90 s have gone.
    answer = handle_erasure_batch(
        [sqs_record('{"user_id": "u1"}')], store, 100.0, settle_seconds=0.0, monotonic=clock
    )
    assert answer == {"batchItemFailures": [{"itemIdentifier": "m-1"}]}
    assert 90.0 <= clock() - started <= 92.0
    (progress,) = report_lines(caplog, PROGRESS_MESSAGE)
    assert progress["erased"] == 45
