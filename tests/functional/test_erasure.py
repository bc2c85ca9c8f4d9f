"""Erasure on request on moto: the queue's function (Chalice's test client) and the command."""

from __future__ import annotations

import json
from typing import Any

import pytest

from chalicelib.erasure import RECEIPT_MESSAGE, user_hash
from chalicelib.favorites import FavoritesStore
from ops.erase import main
from tests.support import FAVORITES_TABLE


@pytest.fixture
def quick(serve, monkeypatch) -> None:
    # moto's index is consistent: no need to wait between the two empty passes.
    serve(ERASURE_SETTLE_MS="0")
    # The command's --environment reads this process's environment, as in Lambda or CI.
    monkeypatch.setenv("ERASURE_SETTLE_MS", "0")


def seed(dynamodb: Any) -> None:
    store = FavoritesStore(dynamodb, FAVORITES_TABLE)
    for n in range(130):  # more than one page of the index
        store.add("u1", f"r{n:03d}")
    store.add("u2", "r000")
    store.add("u2", "r001")


def favorites_of(dynamodb: Any, user: str) -> set[str]:
    items = dynamodb.scan(TableName=FAVORITES_TABLE, ConsistentRead=True)["Items"]
    return {i["restaurant_id"]["S"] for i in items if i["user_id"]["S"] == user}


def erasure_event(client: Any, *bodies: str) -> dict[str, Any]:
    event = client.events.generate_sqs_event(
        message_bodies=list(bodies), queue_name="favorites-test-erasures"
    )
    for n, record in enumerate(event["Records"]):
        record["messageId"] = f"m-{n}"
    return dict(event)


def json_lines(stdout: Any, message: str) -> list[dict[str, Any]]:
    lines = [json.loads(line) for line in stdout.getvalue().splitlines() if line.startswith("{")]
    return [line for line in lines if line["message"] == message]


def test_a_message_erases_the_users_favorites_and_logs_a_receipt(
    client, dynamodb, quick, lambda_logging
):
    seed(dynamodb)
    answer = client.lambda_.invoke("erase_favorites", erasure_event(client, '{"user_id": "u1"}'))
    assert answer.payload == {"batchItemFailures": []}
    assert favorites_of(dynamodb, "u1") == set()
    assert favorites_of(dynamodb, "u2") == {"r000", "r001"}
    (receipt,) = json_lines(lambda_logging, RECEIPT_MESSAGE)
    assert receipt["user_hash"] == user_hash("u1")
    assert receipt["erased"] == 130
    assert receipt["finished"] is True
    assert receipt["finished_at"].endswith("Z")
    assert receipt["message_id"] == "m-0"
    assert receipt["operation"] == "erase"
    # The EMF block publishes `erased` for the stage.
    (directive,) = receipt["_aws"]["CloudWatchMetrics"]
    assert directive["Metrics"] == [{"Name": "erased", "Unit": "Count"}]
    assert receipt["Stage"] == "test"
    # The user id itself is in no line the erasure wrote.
    assert '"u1"' not in lambda_logging.getvalue()


def test_a_repeated_message_is_a_no_op_with_a_receipt_of_zero(
    client, dynamodb, quick, lambda_logging
):
    seed(dynamodb)
    event = erasure_event(client, '{"user_id": "u1"}')
    client.lambda_.invoke("erase_favorites", event)
    before = dynamodb.scan(TableName=FAVORITES_TABLE, ConsistentRead=True)["Items"]
    answer = client.lambda_.invoke("erase_favorites", event)
    assert answer.payload == {"batchItemFailures": []}
    assert dynamodb.scan(TableName=FAVORITES_TABLE, ConsistentRead=True)["Items"] == before
    first, again = json_lines(lambda_logging, RECEIPT_MESSAGE)
    assert (first["erased"], again["erased"]) == (130, 0)
    assert again["user_hash"] == first["user_hash"]


def test_a_malformed_message_is_failed_for_the_dead_letter_queue_and_the_rest_erased(
    client, dynamodb, quick, lambda_logging
):
    seed(dynamodb)
    event = erasure_event(client, '{"user": "u2"}', '{"user_id": "u1"}', "u2")
    answer = client.lambda_.invoke("erase_favorites", event)
    # Reported failed, the malformed ones come back until maxReceiveCount moves
    # them to the dead-letter queue (and its alarm); the good one is erased.
    assert answer.payload == {
        "batchItemFailures": [{"itemIdentifier": "m-0"}, {"itemIdentifier": "m-2"}]
    }
    assert favorites_of(dynamodb, "u1") == set()
    assert favorites_of(dynamodb, "u2") == {"r000", "r001"}
    malformed = json_lines(lambda_logging, "malformed erasure request")
    assert [(line["level"], line["message_id"]) for line in malformed] == [
        ("ERROR", "m-0"),
        ("ERROR", "m-2"),
    ]
    assert malformed[1]["reason"] == "the body is not JSON"


def test_the_command_erases_through_the_same_code_and_prints_the_receipt(dynamodb, quick, capsys):
    seed(dynamodb)
    assert main(["--environment", "u1"]) == 0
    receipt = json.loads(capsys.readouterr().out)
    assert receipt["user_hash"] == user_hash("u1")
    assert (receipt["erased"], receipt["finished"], receipt["source"]) == (130, True, "ops")
    assert favorites_of(dynamodb, "u1") == set()
    assert favorites_of(dynamodb, "u2") == {"r000", "r001"}
    # Again: nothing left, nothing deleted.
    assert main(["--environment", "u1"]) == 0
    assert json.loads(capsys.readouterr().out)["erased"] == 0


def test_the_command_refuses_an_id_that_breaks_the_id_rule(dynamodb, quick, capsys):
    seed(dynamodb)
    assert main(["--environment", "u1/.."]) == 2
    assert "id rule" in capsys.readouterr().err
    assert len(favorites_of(dynamodb, "u1")) == 130
