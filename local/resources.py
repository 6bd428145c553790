"""Creating the template's tables, queues, bucket and secrets on the local AWS endpoint."""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

import boto3

from local.template import Resolver, Template

ACCOUNT_ID = "123456789012"


def client(service: str, endpoint: str, region: str) -> Any:
    factory: Any = boto3.client  # the service name is data here, not a literal the stubs can check
    return factory(
        service,
        endpoint_url=endpoint,
        region_name=region,
        aws_access_key_id="local",
        aws_secret_access_key="local",  # noqa: S106 - moto accepts any
    )


def create_all(
    template: Template,
    endpoint: str,
    region: str,
    stack_name: str,
    parameters: dict[str, str],
    secret_values: Mapping[str, str],
) -> Resolver:
    """Create every supported resource and return a resolver for the functions' environment."""
    refs: dict[str, str] = {}
    attributes: dict[tuple[str, str], str] = {}
    pseudo = {
        "AWS::StackName": stack_name,
        "AWS::Region": region,
        "AWS::AccountId": ACCOUNT_ID,
        "AWS::URLSuffix": "amazonaws.com",
        "AWS::Partition": "aws",
    }
    resolver = Resolver(parameters, refs, attributes, pseudo)

    for name in template.of_type("AWS::DynamoDB::Table"):
        table_name = f"{stack_name}-{name}"
        _create_table(
            client("dynamodb", endpoint, region),
            table_name,
            resolver.resolve(template.resources[name].get("Properties", {})),
        )
        refs[name] = table_name
        attributes[(name, "Arn")] = f"arn:aws:dynamodb:{region}:{ACCOUNT_ID}:table/{table_name}"

    sqs = client("sqs", endpoint, region)
    queues = template.of_type("AWS::SQS::Queue")
    # Dead-letter queues first: a redrive policy names its target's ARN.
    for name in sorted(queues, key=lambda logical: "RedrivePolicy" in queues[logical].get("Properties", {})):
        queue_name = f"{stack_name}-{name}"
        properties = resolver.resolve(queues[name].get("Properties", {}))
        url = sqs.create_queue(QueueName=queue_name, Attributes=_queue_attributes(properties))["QueueUrl"]
        refs[name] = url
        attributes[(name, "QueueName")] = queue_name
        attributes[(name, "QueueUrl")] = url
        attributes[(name, "Arn")] = f"arn:aws:sqs:{region}:{ACCOUNT_ID}:{queue_name}"

    s3 = client("s3", endpoint, region)
    for name, spec in template.of_type("AWS::S3::Bucket").items():
        bucket = f"{stack_name}-{name}".lower()
        _create_bucket(s3, bucket, region, resolver.resolve(spec.get("Properties", {})))
        refs[name] = bucket
        attributes[(name, "Arn")] = f"arn:aws:s3:::{bucket}"

    secrets = client("secretsmanager", endpoint, region)
    for name, spec in template.of_type("AWS::SecretsManager::Secret").items():
        secret_name = resolver.resolve(spec.get("Properties", {}).get("Name", f"{stack_name}/{name}"))
        value = secret_values.get(name)
        if value is None:
            raise SystemExit(f"local stack: no local value for secret {name}; add one in local/config.py")
        arn = secrets.create_secret(Name=secret_name, SecretString=value)["ARN"]
        refs[name] = arn

    for name in template.of_type("AWS::Serverless::Api"):
        refs[name] = "local"
    for name in template.of_type("AWS::Serverless::LayerVersion"):
        refs[name] = f"arn:aws:lambda:{region}:{ACCOUNT_ID}:layer:{name}:1"
    return resolver


def _create_table(dynamodb: Any, table_name: str, properties: dict[str, Any]) -> None:
    request: dict[str, Any] = {
        "TableName": table_name,
        "AttributeDefinitions": properties["AttributeDefinitions"],
        "KeySchema": properties["KeySchema"],
        "BillingMode": properties.get("BillingMode", "PAY_PER_REQUEST"),
    }
    if properties.get("GlobalSecondaryIndexes"):
        request["GlobalSecondaryIndexes"] = [
            {
                "IndexName": index["IndexName"],
                "KeySchema": index["KeySchema"],
                "Projection": index["Projection"],
            }
            for index in properties["GlobalSecondaryIndexes"]
        ]
    dynamodb.create_table(**request)
    ttl = properties.get("TimeToLiveSpecification")
    if ttl and ttl.get("Enabled"):
        dynamodb.update_time_to_live(
            TableName=table_name,
            TimeToLiveSpecification={"Enabled": True, "AttributeName": ttl["AttributeName"]},
        )


def _queue_attributes(properties: dict[str, Any]) -> dict[str, str]:
    attributes: dict[str, str] = {}
    for key in (
        "VisibilityTimeout",
        "MessageRetentionPeriod",
        "DelaySeconds",
        "ReceiveMessageWaitTimeSeconds",
    ):
        if key in properties:
            attributes[key] = str(properties[key])
    if "RedrivePolicy" in properties:
        policy = properties["RedrivePolicy"]
        attributes["RedrivePolicy"] = json.dumps(
            {
                "deadLetterTargetArn": policy["deadLetterTargetArn"],
                "maxReceiveCount": int(policy["maxReceiveCount"]),
            }
        )
    return attributes


def _create_bucket(s3: Any, bucket: str, region: str, properties: dict[str, Any]) -> None:
    if region == "us-east-1":
        s3.create_bucket(Bucket=bucket)
    else:
        s3.create_bucket(Bucket=bucket, CreateBucketConfiguration={"LocationConstraint": region})
    if "PublicAccessBlockConfiguration" in properties:
        s3.put_public_access_block(
            Bucket=bucket, PublicAccessBlockConfiguration=properties["PublicAccessBlockConfiguration"]
        )
    if "BucketEncryption" in properties:
        s3.put_bucket_encryption(
            Bucket=bucket,
            ServerSideEncryptionConfiguration={
                "Rules": [
                    {"ApplyServerSideEncryptionByDefault": rule["ServerSideEncryptionByDefault"]}
                    for rule in properties["BucketEncryption"]["ServerSideEncryptionConfiguration"]
                ]
            },
        )
    rules = properties.get("LifecycleConfiguration", {}).get("Rules")
    if rules:
        s3.put_bucket_lifecycle_configuration(
            Bucket=bucket,
            LifecycleConfiguration={"Rules": [_lifecycle_rule(rule) for rule in rules]},
        )


def _lifecycle_rule(rule: dict[str, Any]) -> dict[str, Any]:
    converted: dict[str, Any] = {
        "ID": rule.get("Id", "rule"),
        "Status": rule["Status"],
        "Filter": {"Prefix": rule.get("Prefix", "")},
    }
    if "AbortIncompleteMultipartUpload" in rule:
        converted["AbortIncompleteMultipartUpload"] = rule["AbortIncompleteMultipartUpload"]
    if "ExpirationInDays" in rule:
        converted["Expiration"] = {"Days": int(rule["ExpirationInDays"])}
    return converted
