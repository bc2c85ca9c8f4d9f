"""The `chalice deploy` path's table script, on moto: complete and idempotent."""

from __future__ import annotations

import pytest
from moto import mock_aws

from infra import tables
from infra.deploy_tables import deploy_tables, main


@pytest.fixture
def aws_dynamodb():
    import boto3

    with mock_aws():
        yield boto3.client("dynamodb", region_name="us-east-1")


def test_creates_the_stage_tables_from_the_one_definition(aws_dynamodb):
    exported = deploy_tables(aws_dynamodb, "dev")
    assert exported["FAVORITES_TABLE"] == "favorites-dev"
    assert exported["FAVORITE_COUNTS_TABLE"] == "favorite-counts-dev"
    favorites = aws_dynamodb.describe_table(TableName="favorites-dev")["Table"]
    assert exported["FAVORITES_STREAM_ARN"] == favorites["LatestStreamArn"]
    definition = tables.resources()["FavoritesTable"]["Properties"]
    assert favorites["KeySchema"] == definition["KeySchema"]
    assert [i["IndexName"] for i in favorites["GlobalSecondaryIndexes"]] == ["by_user"]
    assert favorites["StreamSpecification"] == {
        "StreamEnabled": True,
        "StreamViewType": "NEW_AND_OLD_IMAGES",
    }
    assert favorites["DeletionProtectionEnabled"] is True
    backups = aws_dynamodb.describe_continuous_backups(TableName="favorites-dev")
    pitr = backups["ContinuousBackupsDescription"]["PointInTimeRecoveryDescription"]
    assert pitr["PointInTimeRecoveryStatus"] == "ENABLED"
    ttl = aws_dynamodb.describe_time_to_live(TableName="favorite-counts-dev")
    assert ttl["TimeToLiveDescription"] == {
        "TimeToLiveStatus": "ENABLED",
        "AttributeName": "expires_at",
    }


def test_running_again_changes_nothing(aws_dynamodb, capsys):
    first = deploy_tables(aws_dynamodb, "prod")
    capsys.readouterr()
    assert deploy_tables(aws_dynamodb, "prod") == first
    assert capsys.readouterr().err == ""  # nothing created or enabled the second time


def test_prints_exports_for_chalice_deploy(aws_dynamodb, capsys, monkeypatch):
    monkeypatch.setattr("boto3.client", lambda *args, **kwargs: aws_dynamodb)
    assert main(["--stage", "dev"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0] == "export FAVORITES_TABLE=favorites-dev"
    assert lines[2].startswith("export FAVORITES_STREAM_ARN=arn:aws:dynamodb:us-east-1:")
