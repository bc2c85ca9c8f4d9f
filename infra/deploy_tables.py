"""Create a stage's tables for plain ``chalice deploy``, idempotently.

``chalice deploy`` makes functions, roles and the API but no tables. This
creates them from ``tables.json`` (the definitions the stack and tests use),
named as ``.chalice/config.json`` names them for the stage, then turns on what
``CreateTable`` cannot set (TTL, point-in-time recovery) and deletion
protection. Running it again changes nothing. It prints the stream ARN as a
shell ``export`` so that ``chalice deploy`` subscribes the stream handler to it:

    eval "$(python -m infra.deploy_tables --stage dev)"
    chalice deploy --stage dev
"""

from __future__ import annotations

import argparse
import sys
from typing import Any

from infra import tables
from infra.stages import DEPLOYABLE_STAGES, stage


def apply_table_settings(client: Any, logical_id: str, table_name: str) -> list[str]:
    """Bring an existing table's TTL, PITR and deletion protection to the definition."""
    properties = tables.resources()[logical_id]["Properties"]
    changed: list[str] = []
    ttl = properties.get("TimeToLiveSpecification")
    if ttl:
        current = client.describe_time_to_live(TableName=table_name)["TimeToLiveDescription"]
        if current.get("TimeToLiveStatus") not in ("ENABLED", "ENABLING"):
            client.update_time_to_live(TableName=table_name, TimeToLiveSpecification=ttl)
            changed.append("ttl")
    pitr = properties.get("PointInTimeRecoverySpecification", {})
    if pitr.get("PointInTimeRecoveryEnabled"):
        backups = client.describe_continuous_backups(TableName=table_name)
        status = backups["ContinuousBackupsDescription"].get("PointInTimeRecoveryDescription", {})
        if status.get("PointInTimeRecoveryStatus") != "ENABLED":
            client.update_continuous_backups(
                TableName=table_name,
                PointInTimeRecoverySpecification={"PointInTimeRecoveryEnabled": True},
            )
            changed.append("point-in-time recovery")
    if properties.get("DeletionProtectionEnabled"):
        table = client.describe_table(TableName=table_name)["Table"]
        if not table.get("DeletionProtectionEnabled"):
            client.update_table(TableName=table_name, DeletionProtectionEnabled=True)
            changed.append("deletion protection")
    return changed


def deploy_tables(client: Any, stage_name: str) -> dict[str, str]:
    """Create or update the stage's tables; return the names and the stream ARN."""
    config = stage(stage_name)
    names = tables.TableNames(config.favorites_table, config.counts_table)
    created = tables.ensure_tables(client, names)
    for table_name in created:
        print(f"created {table_name}", file=sys.stderr)
    for logical_id, table_name in names.by_resource().items():
        changed = apply_table_settings(client, logical_id, table_name)
        if changed:
            print(f"{table_name}: enabled {', '.join(changed)}", file=sys.stderr)
    return {
        "FAVORITES_TABLE": names.favorites,
        "FAVORITE_COUNTS_TABLE": names.counts,
        "FAVORITES_STREAM_ARN": tables.stream_arn(client, names.favorites),
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--stage", required=True, choices=DEPLOYABLE_STAGES)
    parser.add_argument("--region", help="defaults to the AWS CLI/SDK configuration")
    args = parser.parse_args(argv)
    import boto3  # noqa: PLC0415  (only this command needs a real client)

    client = boto3.client("dynamodb", region_name=args.region)
    for name, value in deploy_tables(client, args.stage).items():
        print(f"export {name}={value}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
