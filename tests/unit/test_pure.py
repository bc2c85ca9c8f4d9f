import base64
import json
from datetime import UTC, datetime

import pytest

from chalicelib.auth import caller_id
from chalicelib.errors import InvalidInput
from chalicelib.favorites import Favorite, decode_cursor, encode_cursor
from chalicelib.ids import require_restaurant_id
from chalicelib.rankings import merge_top
from chalicelib.settings import SettingsError, from_env
from chalicelib.sharding import rank_partition, rank_partitions, shard_of

KEY = b"test-cursor-key"


def test_cursor_round_trips_and_rejects_tampering():
    favorite = Favorite("r-1", datetime(2026, 11, 23, 8, 0, 0, 5000, tzinfo=UTC))
    cursor = encode_cursor(favorite, "alice", KEY)
    assert decode_cursor(cursor, "alice", KEY) == favorite
    body, tag = cursor.split(".")
    # The same position, re-encoded by hand with a later time: a forged cursor.
    forged = (
        base64.urlsafe_b64encode(
            json.dumps(
                {"r": "r-1", "c": "2030-01-01T00:00:00.000Z"}, separators=(",", ":")
            ).encode()
        )
        .decode()
        .rstrip("=")
    )
    flipped = tag[:-1] + ("A" if tag[-1] != "A" else "B")
    for bad in [
        "",
        "!!!",
        "e30",
        body,
        f"{forged}.{tag}",
        f"{body}.{flipped}",
        cursor[:-3],
        cursor + "." + tag,
        "x" * 600,
        "eyJyIjoiIyIsImMiOiIyMDI2In0",
    ]:
        with pytest.raises(InvalidInput, match="cursor"):
            decode_cursor(bad, "alice", KEY)


def test_a_cursor_only_verifies_for_its_user_and_key():
    cursor = encode_cursor(Favorite("r-1", datetime(2026, 11, 23, tzinfo=UTC)), "alice", KEY)
    with pytest.raises(InvalidInput, match="cursor"):
        decode_cursor(cursor, "bob", KEY)
    with pytest.raises(InvalidInput, match="cursor"):
        decode_cursor(cursor, "alice", b"another stage's key")


@pytest.mark.parametrize("value", ["r1", "A", "a.b_c:d-e", "x" * 128])
def test_valid_restaurant_ids(value):
    assert require_restaurant_id(value) == value


@pytest.mark.parametrize("value", ["", "-r", "#EVENT#x", "a b", "x" * 129, "é"])
def test_invalid_restaurant_ids_say_the_rule(value):
    with pytest.raises(InvalidInput, match="restaurantId must be"):
        require_restaurant_id(value)


def test_caller_is_the_sub_claim_only():
    assert caller_id({"authorizer": {"claims": {"sub": "user-1"}}}) == "user-1"
    assert caller_id({"authorizer": {"claims": {"username": "user-1"}}}) is None
    assert caller_id({"authorizer": {"claims": {"sub": ""}}}) is None
    assert caller_id({}) is None
    assert caller_id(None) is None


def test_merge_orders_by_count_then_id_and_ranks_from_one():
    ranked = merge_top([("b", 3), ("a", 3), ("c", 5), ("d", 1)], first=3)
    assert [(r.rank, r.restaurant_id, r.favorite_count) for r in ranked] == [
        (1, "c", 5),
        (2, "a", 3),
        (3, "b", 3),
    ]


def test_shards_are_stable_and_cover_every_partition():
    assert shard_of("r1", 1) == 0
    assert shard_of("restaurant-42", 16) == shard_of("restaurant-42", 16)
    assert rank_partition("ALL", "r1", 1) == "ALL#0"
    assert rank_partitions("DAY#2026-11-23", 4) == [f"DAY#2026-11-23#{i}" for i in range(4)]
    used = {shard_of(f"r{i}", 16) for i in range(1000)}
    assert used == set(range(16))


def test_settings_defaults_and_errors():
    settings = from_env({"STAGE": "prod"})
    assert settings.favorites_table == "favorites-prod"
    assert settings.ranking_shards == 1
    assert settings.graphiql is False
    assert settings.tracing is False
    assert from_env({"AWS_LAMBDA_FUNCTION_NAME": "f"}).tracing is True
    with pytest.raises(SettingsError, match="RANKING_SHARDS"):
        from_env({"RANKING_SHARDS": "zero"})
    with pytest.raises(SettingsError, match="between"):
        from_env({"RANKING_SHARDS": "0"})


def test_the_ranking_tie_read_limit_setting():
    assert from_env({}).ranking_tie_read_limit == 1000
    assert from_env({"RANKING_TIE_READ_LIMIT": ""}).ranking_tie_read_limit == 1000
    assert from_env({"RANKING_TIE_READ_LIMIT": "250"}).ranking_tie_read_limit == 250
    for bad in ("0", "-5", "1000001", "many", "1e3"):
        with pytest.raises(SettingsError, match="RANKING_TIE_READ_LIMIT"):
            from_env({"RANKING_TIE_READ_LIMIT": bad})


def test_abuse_limits_and_cursor_secret_come_from_settings():
    defaults = from_env({})
    assert (defaults.max_query_depth, defaults.max_aliases, defaults.max_tokens) == (8, 15, 1000)
    assert defaults.max_batch_operations == 0
    assert defaults.max_body_bytes == 16384
    assert defaults.uses_dev_cursor_secret
    configured = from_env(
        {"GRAPHQL_MAX_BATCH_OPERATIONS": "5", "CURSOR_SECRET": "s3cret", "GRAPHQL_MAX_DEPTH": "4"}
    )
    assert (configured.max_batch_operations, configured.max_query_depth) == (5, 4)
    assert configured.cursor_secret == "s3cret"
    assert not configured.uses_dev_cursor_secret
    with pytest.raises(SettingsError, match="GRAPHQL_MAX_BATCH_OPERATIONS"):
        from_env({"GRAPHQL_MAX_BATCH_OPERATIONS": "500"})
    with pytest.raises(SettingsError, match="MAX_REQUEST_BODY_BYTES"):
        from_env({"MAX_REQUEST_BODY_BYTES": "lots"})


def test_region_is_left_to_boto3_unless_set_or_local():
    from chalicelib import aws

    assert from_env({}).region is None
    assert from_env({"AWS_REGION": "eu-west-1"}).region == "eu-west-1"
    regional = from_env({"AWS_DEFAULT_REGION": "eu-west-1"})
    assert aws.client_args(regional)["region_name"] == "eu-west-1"
    assert aws.client_args(from_env({}))["region_name"] is None
    local = from_env({"DYNAMODB_ENDPOINT_URL": "http://127.0.0.1:8001"})
    assert aws.client_args(local)["region_name"] == "us-east-1"
