"""The local stack's data resources are made as template.yaml says, by moto's CloudFormation plus
what local/resources.py applies after it (moto's CloudFormation ignores a table's TTL, a bucket's
public access block, and has no secrets)."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

from local.template import Template, load_template
from tests.conftest import MAGIC_HOUR_KEY, WEBHOOK_SECRET, StackHandle

TEMPLATE = Template(load_template())


def test_tables_have_the_templates_keys_indexes_and_ttl(
    stack: StackHandle, aws: Callable[[str], Any]
) -> None:
    dynamodb = aws("dynamodb")
    for name, spec in TEMPLATE.of_type("AWS::DynamoDB::Table").items():
        properties = spec["Properties"]
        table_name = stack.stack.resolver.refs[name]
        assert table_name == f"pipeline-test-{name}"  # the names `make ops` and `make redrive` use
        table = dynamodb.describe_table(TableName=table_name)["Table"]
        assert table["KeySchema"] == properties["KeySchema"]
        indexes = {index["IndexName"]: index for index in table.get("GlobalSecondaryIndexes", [])}
        for index in properties.get("GlobalSecondaryIndexes", []):
            assert indexes[index["IndexName"]]["KeySchema"] == index["KeySchema"]
            assert indexes[index["IndexName"]]["Projection"] == index["Projection"]
        ttl = dynamodb.describe_time_to_live(TableName=table_name)["TimeToLiveDescription"]
        if "TimeToLiveSpecification" in properties:
            assert ttl == {
                "TimeToLiveStatus": "ENABLED",
                "AttributeName": properties["TimeToLiveSpecification"]["AttributeName"],
            }


def test_queues_have_the_templates_timeouts_and_redrive_policies(
    stack: StackHandle, aws: Callable[[str], Any]
) -> None:
    sqs = aws("sqs")
    refs, attributes = stack.stack.resolver.refs, stack.stack.resolver.attributes
    for name, spec in TEMPLATE.of_type("AWS::SQS::Queue").items():
        properties = spec["Properties"]
        assert refs[name] == f"{stack.aws}/123456789012/pipeline-test-{name}"
        got = sqs.get_queue_attributes(QueueUrl=refs[name], AttributeNames=["All"])["Attributes"]
        assert got["QueueArn"] == attributes[(name, "Arn")]
        assert got["VisibilityTimeout"] == str(properties.get("VisibilityTimeout", 30))
        assert got["MessageRetentionPeriod"] == str(properties["MessageRetentionPeriod"])
        if "RedrivePolicy" in properties:
            policy = json.loads(got["RedrivePolicy"])
            target = properties["RedrivePolicy"]["deadLetterTargetArn"]["Fn::GetAtt"][0]
            assert policy["deadLetterTargetArn"] == attributes[(target, "Arn")]
            assert policy["maxReceiveCount"] == int(
                stack.stack.resolver.resolve(properties["RedrivePolicy"]["maxReceiveCount"])
            )
        else:
            assert "RedrivePolicy" not in got


def test_buckets_are_encrypted_and_block_public_access(stack: StackHandle, aws: Callable[[str], Any]) -> None:
    s3 = aws("s3")
    for name in TEMPLATE.of_type("AWS::S3::Bucket"):
        bucket = stack.stack.resolver.refs[name]
        assert bucket == f"pipeline-test-{name}".lower()
        rules = s3.get_bucket_encryption(Bucket=bucket)["ServerSideEncryptionConfiguration"]["Rules"]
        assert rules[0]["ApplyServerSideEncryptionByDefault"] == {"SSEAlgorithm": "AES256"}
        block = s3.get_public_access_block(Bucket=bucket)["PublicAccessBlockConfiguration"]
        assert block == {
            "BlockPublicAcls": True,
            "IgnorePublicAcls": True,
            "BlockPublicPolicy": True,
            "RestrictPublicBuckets": True,
        }


def test_secrets_hold_the_local_values(stack: StackHandle, aws: Callable[[str], Any]) -> None:
    secrets = aws("secretsmanager")
    refs = stack.stack.resolver.refs
    assert secrets.get_secret_value(SecretId=refs["MagicHourApiKeySecret"])["SecretString"] == MAGIC_HOUR_KEY
    assert secrets.get_secret_value(SecretId=refs["MagicHourWebhookSecret"])["SecretString"] == WEBHOOK_SECRET
    assert secrets.describe_secret(SecretId=refs["MagicHourApiKeySecret"])["Name"] == (
        "pipeline-test/magic-hour/api-key"
    )
