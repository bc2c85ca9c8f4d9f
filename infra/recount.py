"""The export recount's resources: where exports land, where Athena runs, who may run it.

An operator (``python -m ops.recount --athena``) exports the Favorites table
to the bucket (ExportTableToPointInTime, with the operator's credentials),
creates an external table over the export in the Glue database, and runs the
recount query in the workgroup. The managed policy grants exactly that and the
reconciler's own reads and compare-and-add writes; it is attached to the
operator's role by whoever administers the account, not by this stack.
"""

from __future__ import annotations

from typing import Any

from infra.stages import Stage

EXPORT_BUCKET = "RecountExportBucket"
WORKGROUP = "RecountWorkGroup"
DATABASE = "RecountDatabase"
OPERATOR_POLICY = "RecountOperatorPolicy"

# Exports are copies of user data (an erased user's ids among them): kept just
# long enough to investigate a run, then deleted.
EXPORT_RETENTION_DAYS = 7
# Prefixes in the bucket: the exports, and Athena's result files.
EXPORT_PREFIX = "exports/"
RESULTS_PREFIX = "athena-results/"
# A recount reads two short strings per favorite: 10 GB of export (the
# gzip'd DynamoDB JSON of about 100M favorites) at $5 per TB is 5 cents. A
# query scanning more is a wrong LOCATION, not a recount: cancelled.
BYTES_SCANNED_CUTOFF = 10 * 1024**3


def workgroup_name(stage: Stage) -> str:
    return f"{stage.app_name}-{stage.name}-recount"


def database_name(stage: Stage) -> str:
    # Glue names: lowercase letters, digits and underscores.
    return f"{stage.app_name}_{stage.name}_recount".replace("-", "_").lower()


def _sub(text: str) -> dict[str, str]:
    return {"Fn::Sub": text}


def _arn(service: str, rest: str) -> dict[str, str]:
    return _sub(f"arn:${{AWS::Partition}}:{service}:${{AWS::Region}}:${{AWS::AccountId}}:{rest}")


def operator_policy(stage: Stage) -> dict[str, Any]:
    """The recount run's permissions and nothing else."""
    bucket = _sub("arn:${AWS::Partition}:s3:::${" + EXPORT_BUCKET + "}")
    objects = _sub("arn:${AWS::Partition}:s3:::${" + EXPORT_BUCKET + "}/*")
    favorites = _arn("dynamodb", f"table/{stage.favorites_table}")
    counts = _arn("dynamodb", f"table/{stage.counts_table}")
    database = database_name(stage)
    return {
        "Version": "2012-10-17",
        "Statement": [
            {
                "Sid": "ExportFavorites",
                "Effect": "Allow",
                "Action": ["dynamodb:ExportTableToPointInTime"],
                "Resource": favorites,
            },
            {
                "Sid": "WatchTheExport",
                "Effect": "Allow",
                "Action": ["dynamodb:DescribeExport"],
                "Resource": _arn("dynamodb", f"table/{stage.favorites_table}/export/*"),
            },
            {
                # The reconciler: the counts scanned, re-checked and repaired
                # (compare-and-add), each drifted restaurant's favorites recounted.
                "Sid": "Reconcile",
                "Effect": "Allow",
                "Action": [
                    "dynamodb:Scan",
                    "dynamodb:GetItem",
                    "dynamodb:Query",
                    "dynamodb:UpdateItem",
                ],
                "Resource": [counts, favorites],
            },
            {
                # DynamoDB writes the export, Athena its results, both as the caller.
                "Sid": "ExportAndResultFiles",
                "Effect": "Allow",
                "Action": [
                    "s3:PutObject",
                    "s3:PutObjectAcl",
                    "s3:GetObject",
                    "s3:AbortMultipartUpload",
                ],
                "Resource": objects,
            },
            {
                "Sid": "ListTheBucket",
                "Effect": "Allow",
                "Action": ["s3:ListBucket", "s3:GetBucketLocation"],
                "Resource": bucket,
            },
            {
                "Sid": "QueryInTheWorkgroup",
                "Effect": "Allow",
                "Action": [
                    "athena:StartQueryExecution",
                    "athena:GetQueryExecution",
                    "athena:GetQueryResults",
                    "athena:StopQueryExecution",
                ],
                "Resource": _arn("athena", f"workgroup/{workgroup_name(stage)}"),
            },
            {
                # The external table over one export: created, read, dropped.
                "Sid": "ExportTables",
                "Effect": "Allow",
                "Action": [
                    "glue:GetDatabase",
                    "glue:CreateTable",
                    "glue:GetTable",
                    "glue:DeleteTable",
                    "glue:GetPartitions",
                ],
                "Resource": [
                    _arn("glue", "catalog"),
                    _arn("glue", f"database/{database}"),
                    _arn("glue", f"table/{database}/*"),
                ],
            },
        ],
    }


def resources(stage: Stage) -> dict[str, Any]:
    return {
        EXPORT_BUCKET: {
            "Type": "AWS::S3::Bucket",
            "Properties": {
                "BucketEncryption": {
                    "ServerSideEncryptionConfiguration": [
                        {"ServerSideEncryptionByDefault": {"SSEAlgorithm": "AES256"}}
                    ]
                },
                "PublicAccessBlockConfiguration": {
                    "BlockPublicAcls": True,
                    "BlockPublicPolicy": True,
                    "IgnorePublicAcls": True,
                    "RestrictPublicBuckets": True,
                },
                "OwnershipControls": {"Rules": [{"ObjectOwnership": "BucketOwnerEnforced"}]},
                "LifecycleConfiguration": {
                    "Rules": [
                        {
                            "Id": "ExpireExportsAndResults",
                            "Status": "Enabled",
                            "ExpirationInDays": EXPORT_RETENTION_DAYS,
                            "AbortIncompleteMultipartUpload": {"DaysAfterInitiation": 1},
                        }
                    ]
                },
            },
        },
        DATABASE: {
            "Type": "AWS::Glue::Database",
            "Properties": {
                "CatalogId": {"Ref": "AWS::AccountId"},
                "DatabaseInput": {"Name": database_name(stage)},
            },
        },
        WORKGROUP: {
            "Type": "AWS::Athena::WorkGroup",
            "Properties": {
                "Name": workgroup_name(stage),
                "Description": f"{stage.app_name}-{stage.name}: favorite counts recount",
                "RecursiveDeleteOption": True,
                "WorkGroupConfiguration": {
                    "BytesScannedCutoffPerQuery": BYTES_SCANNED_CUTOFF,
                    # The cutoff and the result location hold whatever the client asks.
                    "EnforceWorkGroupConfiguration": True,
                    "PublishCloudWatchMetricsEnabled": True,
                    "ResultConfiguration": {
                        "OutputLocation": _sub("s3://${" + EXPORT_BUCKET + "}/" + RESULTS_PREFIX),
                        "EncryptionConfiguration": {"EncryptionOption": "SSE_S3"},
                    },
                },
            },
        },
        OPERATOR_POLICY: {
            "Type": "AWS::IAM::ManagedPolicy",
            "Properties": {
                "Description": f"{stage.app_name}-{stage.name}: run the export recount",
                "PolicyDocument": operator_policy(stage),
            },
        },
    }


def outputs() -> dict[str, Any]:
    return {
        "RecountExportBucketName": {"Value": {"Ref": EXPORT_BUCKET}},
        "RecountWorkGroupName": {"Value": {"Ref": WORKGROUP}},
        "RecountDatabaseName": {"Value": {"Ref": DATABASE}},
        "RecountOperatorPolicyArn": {"Value": {"Ref": OPERATOR_POLICY}},
    }
