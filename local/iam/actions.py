"""Which IAM actions and resource ARNs AWS authorizes each boto3 call against (local IAM)."""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import unquote, urlsplit

from local.template import Resolver, Template

# IAM's service prefix where it differs from botocore's endpoint prefix.
_IAM_PREFIX = {"monitoring": "cloudwatch", "email": "ses", "states": "states", "streams.dynamodb": "dynamodb"}

# Operations authorized as other actions (AWS's Service Authorization Reference).
_S3_AS = {
    "HeadObject": ["s3:GetObject"],
    "CreateMultipartUpload": ["s3:PutObject"],
    "UploadPart": ["s3:PutObject"],
    "CompleteMultipartUpload": ["s3:PutObject"],
    "ListParts": ["s3:ListMultipartUploadParts"],
    "ListObjects": ["s3:ListBucket"],
    "ListObjectsV2": ["s3:ListBucket"],
    "ListObjectVersions": ["s3:ListBucketVersions"],
    "HeadBucket": ["s3:ListBucket"],
    "DeleteObjects": ["s3:DeleteObject"],
    "GetObjectAttributes": ["s3:GetObject", "s3:GetObjectAttributes"],
    "PutBucketLifecycleConfiguration": ["s3:PutLifecycleConfiguration"],
    "GetBucketLifecycleConfiguration": ["s3:GetLifecycleConfiguration"],
}
_S3_BUCKET_OPERATIONS = re.compile(
    r"^(ListObjects|ListObjectsV2|ListObjectVersions|HeadBucket|ListMultipartUploads)$|Bucket"
)
_SQS_AS = {
    "SendMessageBatch": ["sqs:SendMessage"],
    "DeleteMessageBatch": ["sqs:DeleteMessage"],
    "ChangeMessageVisibilityBatch": ["sqs:ChangeMessageVisibility"],
}
_DYNAMODB_TRANSACT = {
    "Put": "dynamodb:PutItem",
    "Update": "dynamodb:UpdateItem",
    "Delete": "dynamodb:DeleteItem",
    "ConditionCheck": "dynamodb:ConditionCheckItem",
    "Get": "dynamodb:GetItem",
}
# What the boto3 transfer manager and other client-side helpers call (for the static scan).
CLIENT_HELPERS: dict[tuple[str, str], list[str]] = {
    ("s3", "upload_fileobj"): [
        "PutObject",
        "CreateMultipartUpload",
        "UploadPart",
        "CompleteMultipartUpload",
        "AbortMultipartUpload",
    ],
    ("s3", "upload_file"): [
        "PutObject",
        "CreateMultipartUpload",
        "UploadPart",
        "CompleteMultipartUpload",
        "AbortMultipartUpload",
    ],
    ("s3", "download_fileobj"): ["HeadObject", "GetObject"],
    ("s3", "download_file"): ["HeadObject", "GetObject"],
    ("s3", "copy"): [
        "HeadObject",
        "CopyObject",
        "CreateMultipartUpload",
        "UploadPartCopy",
        "CompleteMultipartUpload",
        "AbortMultipartUpload",
    ],
    ("dynamodb", "batch_writer"): ["BatchWriteItem"],
}


def iam_prefix(endpoint_prefix: str) -> str:
    return _IAM_PREFIX.get(endpoint_prefix, endpoint_prefix)


def actions_of(service: str, operation: str, transact_kinds: Iterable[str] = ()) -> list[str]:
    """The IAM actions one operation needs, without resources (the static scan's view).
    `transact_kinds` are the item kinds of a DynamoDB transaction (Put, Update, ...)."""
    if service == "s3":
        if operation in ("CopyObject", "UploadPartCopy"):
            return ["s3:GetObject", "s3:PutObject"]
        return _S3_AS.get(operation, [f"s3:{operation}"])
    if service == "sqs":
        return _SQS_AS.get(operation, [f"sqs:{operation}"])
    if service == "dynamodb" and operation in ("TransactWriteItems", "TransactGetItems"):
        kinds = list(transact_kinds) or (["Get"] if operation == "TransactGetItems" else [])
        return sorted({_DYNAMODB_TRANSACT[kind] for kind in kinds if kind in _DYNAMODB_TRANSACT})
    return [f"{iam_prefix(service)}:{operation}"]


@dataclass(frozen=True)
class Place:
    """Where ARNs are made: the region and account of the local stack, and what names mean."""

    region: str
    account: str
    # Secrets Manager authorizes against the secret's ARN (with its random suffix) even when it
    # is named by its name.
    secret_arns: Mapping[str, str] = field(default_factory=dict)


def place_of(template: Template, resolver: Resolver, region: str, account: str) -> Place:
    arns = [str(resolver.refs[name]) for name in template.of_type("AWS::SecretsManager::Secret")]
    return Place(region, account, secret_arns_by_name(arns))


def secret_arns_by_name(arns: Iterable[str]) -> dict[str, str]:
    """Secrets Manager ARNs end in the name, a dash and six random characters."""
    return {arn.split(":secret:", 1)[-1][:-7]: arn for arn in arns if ":secret:" in arn}


def requests_of(
    service: str, operation: str, params: Mapping[str, Any], place: Place
) -> list[tuple[str, str]]:
    """(action, resource ARN) pairs AWS authorizes one call against."""
    region, account = place.region, place.account
    if service == "dynamodb":
        return _dynamodb_requests(operation, params, region, account)
    if service == "sqs":
        if "QueueUrl" in params:
            arn = queue_arn_from_url(str(params["QueueUrl"]), region)
        elif "QueueName" in params:
            owner = params.get("QueueOwnerAWSAccountId") or account
            arn = f"arn:aws:sqs:{region}:{owner}:{params['QueueName']}"
        else:
            arn = "*"
        return [(action, arn) for action in actions_of("sqs", operation)]
    if service == "s3":
        return _s3_requests(operation, params)
    if service == "secretsmanager":
        secret = str(params.get("SecretId", ""))
        if not secret:
            return [(f"secretsmanager:{operation}", "*")]
        arn = secret if secret.startswith("arn:") else place.secret_arns.get(secret, "")
        arn = arn or f"arn:aws:secretsmanager:{region}:{account}:secret:{secret}"
        return [(f"secretsmanager:{operation}", arn)]
    if service == "events":
        return [(f"events:{operation}", arn) for arn in _bus_arns(params, region, account)]
    if service == "streams.dynamodb":
        # A shard iterator is opaque in AWS but authorized against its stream; moto's starts with
        # the stream's ARN.
        stream = str(params.get("StreamArn") or str(params.get("ShardIterator", "")).split("|", 1)[0])
        return [(f"dynamodb:{operation}", stream if stream.startswith("arn:") else "*")]
    return [(action, "*") for action in actions_of(service, operation)]


def _bus_arns(params: Mapping[str, Any], region: str, account: str) -> list[str]:
    """The buses an EventBridge call names (PutEvents: each entry's), as ARNs."""
    names = [entry.get("EventBusName") for entry in params.get("Entries", [])] or [params.get("EventBusName")]
    arns = []
    for name in names:
        bus = str(name or "default")
        arn = bus if bus.startswith("arn:") else f"arn:aws:events:{region}:{account}:event-bus/{bus}"
        if arn not in arns:
            arns.append(arn)
    return arns


def queue_arn_from_url(url: str, region: str) -> str:
    """https://sqs.<region>.amazonaws.com/<account>/<name> (moto: http://host:port/<account>/<name>)."""
    parts = [part for part in urlsplit(url).path.split("/") if part]
    if len(parts) < 2:
        return url
    return f"arn:aws:sqs:{region}:{parts[-2]}:{parts[-1]}"


def _table_arn(name: str, region: str, account: str) -> str:
    return name if name.startswith("arn:") else f"arn:aws:dynamodb:{region}:{account}:table/{name}"


def _dynamodb_requests(
    operation: str, params: Mapping[str, Any], region: str, account: str
) -> list[tuple[str, str]]:
    if operation in ("TransactWriteItems", "TransactGetItems"):
        pairs = []
        for item in params.get("TransactItems", []):
            for kind, request in item.items():
                pairs.append((_DYNAMODB_TRANSACT[kind], _table_arn(request["TableName"], region, account)))
        return pairs
    if operation in ("BatchWriteItem", "BatchGetItem"):
        return [
            (f"dynamodb:{operation}", _table_arn(table, region, account))
            for table in params.get("RequestItems", {})
        ]
    if "TableName" not in params:
        return [(f"dynamodb:{operation}", "*")]
    arn = _table_arn(str(params["TableName"]), region, account)
    if params.get("IndexName"):
        arn = f"{arn}/index/{params['IndexName']}"
    return [(f"dynamodb:{operation}", arn)]


def _s3_requests(operation: str, params: Mapping[str, Any]) -> list[tuple[str, str]]:
    bucket = str(params.get("Bucket", ""))
    if operation in ("CopyObject", "UploadPartCopy"):
        source = params.get("CopySource", "")
        if isinstance(source, Mapping):
            source_arn = f"arn:aws:s3:::{source.get('Bucket')}/{source.get('Key')}"
        else:  # botocore has already turned it into "bucket/key[?versionId=...]"
            source_arn = f"arn:aws:s3:::{unquote(str(source).split('?', 1)[0].lstrip('/'))}"
        return [
            ("s3:GetObject", source_arn),
            ("s3:PutObject", f"arn:aws:s3:::{bucket}/{params.get('Key', '')}"),
        ]
    if not bucket:
        return [(action, "*") for action in actions_of("s3", operation)]
    if _S3_BUCKET_OPERATIONS.search(operation) or "Key" not in params:
        arn = f"arn:aws:s3:::{bucket}"
    else:
        arn = f"arn:aws:s3:::{bucket}/{params['Key']}"
    return [(action, arn) for action in actions_of("s3", operation)]
