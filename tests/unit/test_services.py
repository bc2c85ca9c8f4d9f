"""The composition object: members built once, from its own settings, on its own clock."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from chalicelib.services import Services
from chalicelib.settings import from_env
from chalicelib.stream.records import FavoriteEvent
from tests.support import SpanRecorder

NOW = datetime(2026, 11, 23, 8, 15, 30, 123000, tzinfo=UTC)


class RecordingClient:
    """Stands in for the DynamoDB client: keeps every PutItem it is asked for."""

    def __init__(self) -> None:
        self.puts: list[dict[str, Any]] = []

    def put_item(self, **params: Any) -> dict[str, Any]:
        self.puts.append(params)
        return {}


def test_each_member_is_built_once_and_kept():
    services = Services(from_env({}), dynamodb=RecordingClient())  # type: ignore[arg-type]
    for member in (
        services.dynamodb,
        services.favorites,
        services.documents,
        services.rankings,
        services.counts_writer,
        services.reconciler,
        services.eraser,
        services.metric_space,
    ):
        assert member() is member(), member.__name__
    assert services.reconciler().store is services.reconciler().store


def test_two_objects_share_nothing():
    first = Services(from_env({}), dynamodb=RecordingClient())  # type: ignore[arg-type]
    second = Services(from_env({}), dynamodb=RecordingClient())  # type: ignore[arg-type]
    assert first.favorites() is not second.favorites()
    assert first.dynamodb() is not second.dynamodb()


def test_the_clock_it_is_given_is_the_one_the_stores_read():
    client = RecordingClient()
    services = Services(
        from_env({"FAVORITES_TABLE": "favs", "MARKER_TTL_SECONDS": "86400"}),
        clock=NOW.timestamp,
        dynamodb=client,  # type: ignore[arg-type]
    )
    services.favorites().add("alice", "r1")
    [put] = client.puts
    assert put["TableName"] == "favs"
    assert put["Item"]["created_at"] == {"S": "2026-11-23T08:15:30.123Z"}
    event = FavoriteEvent("e1", "1", "r1", "alice", NOW, 1)
    [marker, *_] = services.counts_writer().actions([event])
    assert marker["Put"]["Item"]["expires_at"] == {"N": str(int(NOW.timestamp()) + 86400)}
    services.documents().put("0" * 64, "{ a }")
    [_, document] = client.puts
    assert document["Item"]["expires_at"] == {"N": str(int(NOW.timestamp()) + 30 * 86400)}
    assert services.now() == NOW


class HeaderTracer(SpanRecorder):
    """A tracer whose open span has a trace header, as one inside Lambda does."""

    def trace_header(self) -> str | None:
        return "Root=1-69300000-0000000000000000000000ab;Parent=00000000000000ab;Sampled=1"


def test_a_favorite_records_the_header_of_its_objects_tracer():
    client = RecordingClient()
    tracer = HeaderTracer()
    services = Services(from_env({}), dynamodb=client, tracer=tracer)  # type: ignore[arg-type]
    services.favorites().add("alice", "r1")
    [put] = client.puts
    assert put["Item"]["trace_header"] == {"S": tracer.trace_header()}


def test_the_tracer_follows_the_settings_unless_one_is_handed_in():
    assert Services(from_env({})).tracer.enabled is False
    assert Services(from_env({"TRACING_ENABLED": "true"})).tracer.enabled is True
    recorder = SpanRecorder()
    assert Services(from_env({}), tracer=recorder).tracer is recorder
