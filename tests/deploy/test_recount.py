"""The export recount's resources: a bucket that forgets, a capped workgroup, a narrow policy."""

from __future__ import annotations

import ast
from pathlib import Path
from typing import Any

from infra import recount
from infra.package import Package
from infra.stages import ROOT, stage


def _resources(packaged: Package) -> dict[str, Any]:
    return dict(packaged.template()["Resources"])


def test_export_bucket_is_private_encrypted_and_expires_what_it_holds(packaged: Package) -> None:
    bucket = _resources(packaged)[recount.EXPORT_BUCKET]
    assert bucket["Type"] == "AWS::S3::Bucket"
    properties = bucket["Properties"]
    (rule,) = properties["LifecycleConfiguration"]["Rules"]
    # No prefix filter: exports and Athena's results alike.
    assert "Prefix" not in rule
    assert "Filter" not in rule
    assert rule["Status"] == "Enabled"
    assert rule["ExpirationInDays"] == recount.EXPORT_RETENTION_DAYS <= 7
    assert rule["AbortIncompleteMultipartUpload"] == {"DaysAfterInitiation": 1}
    assert all(properties["PublicAccessBlockConfiguration"].values())
    assert properties["BucketEncryption"]["ServerSideEncryptionConfiguration"]


def test_workgroup_caps_bytes_scanned_and_enforces_it(packaged: Package) -> None:
    workgroup = _resources(packaged)[recount.WORKGROUP]
    assert workgroup["Type"] == "AWS::Athena::WorkGroup"
    assert workgroup["Properties"]["Name"] == recount.workgroup_name(stage(packaged.stage))
    configuration = workgroup["Properties"]["WorkGroupConfiguration"]
    assert configuration["BytesScannedCutoffPerQuery"] == recount.BYTES_SCANNED_CUTOFF
    # A client cannot lift the cutoff or send results elsewhere.
    assert configuration["EnforceWorkGroupConfiguration"] is True
    assert configuration["ResultConfiguration"]["OutputLocation"] == {
        "Fn::Sub": "s3://${" + recount.EXPORT_BUCKET + "}/" + recount.RESULTS_PREFIX
    }


def _calls(path: Path) -> set[str]:
    """The client methods a module calls (``client.method(...)`` on its clients)."""
    tree = ast.parse(path.read_text())
    return {
        node.func.attr
        for node in ast.walk(tree)
        if isinstance(node, ast.Call)
        and isinstance(node.func, ast.Attribute)
        and isinstance(node.func.value, ast.Attribute)
        and node.func.value.attr in ("dynamodb", "athena")
    }


def test_operator_policy_grants_the_runs_calls_and_nothing_more(packaged: Package) -> None:
    resources = _resources(packaged)
    policy = resources[recount.OPERATOR_POLICY]
    assert policy["Type"] == "AWS::IAM::ManagedPolicy"
    statements = policy["Properties"]["PolicyDocument"]["Statement"]
    assert all(statement["Effect"] == "Allow" for statement in statements)
    granted = {action for statement in statements for action in statement["Action"]}
    # The adapter's own calls, each one granted.
    adapter = _calls(ROOT / "ops" / "recount" / "athena.py")
    assert adapter == {
        "export_table_to_point_in_time",
        "describe_export",
        "start_query_execution",
        "get_query_execution",
        "get_query_results",
    }
    for call in adapter:
        service = "dynamodb" if "export" in call else "athena"
        name = "".join(part.capitalize() for part in call.split("_"))
        assert f"{service}:{name}" in granted
    # Nothing to delete or export elsewhere, no table but the stage's.
    assert not any(
        action.split(":")[1].startswith("Delete") for action in granted if "s3" in action
    )
    assert "dynamodb:DeleteItem" not in granted
    assert "dynamodb:PutItem" not in granted
    config = stage(packaged.stage)
    for statement in statements:
        for resource in (
            statement["Resource"]
            if isinstance(statement["Resource"], list)
            else [statement["Resource"]]
        ):
            text = resource["Fn::Sub"]
            if ":dynamodb:" in text:
                assert text.split(":table/")[1].split("/")[0] in (
                    config.favorites_table,
                    config.counts_table,
                )
            if ":athena:" in text:
                assert text.endswith(f":workgroup/{recount.workgroup_name(config)}")
            if ":glue:" in text and "database" in text:
                assert recount.database_name(config) in text
