"""Creating the template's tables, queues, buckets and secrets on the local AWS endpoint.

The data resources go to moto's own CloudFormation in one `create_stack`, from the template after
the SAM transform; moto resolves their intrinsics and dependencies (a queue's redrive policy names
its dead-letter queue's ARN). What moto's CloudFormation leaves out is applied after it:

- DynamoDB tables: moto creates keys and every GSI as written, but ignores TimeToLiveSpecification.
- S3 buckets: moto creates the bucket and its encryption only; versioning, lifecycle rules and the
  public access block are put afterwards.
- Secrets Manager secrets: moto's CloudFormation has no such resource type (a stack naming them
  completes without them), so they are created here, each seeded with its local value.
- EventBridge buses, archives and bus policies: created here (a bus keeps its template name), and
  a table's StreamArn is read back from the table.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

import boto3

from local.template import Resolver, Template

ACCOUNT_ID = "123456789012"
# What moto's CloudFormation creates faithfully enough, and the attributes the functions' environment
# and roles read back from each (besides Ref).
STACK_RESOURCES = {
    "AWS::DynamoDB::Table": ("TableName", ("Arn",)),
    "AWS::SQS::Queue": ("QueueName", ("Arn", "QueueName")),
    "AWS::S3::Bucket": ("BucketName", ("Arn",)),
}


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
    transformed: Mapping[str, Any] | None = None,
) -> Resolver:
    """Create every supported resource and return a resolver for the functions' environment.

    `transformed` is the template after the SAM transform, when the caller has it already."""
    if transformed is None:
        from local.iam import sam_transform

        transformed = sam_transform(template.document, region)
    refs: dict[str, str] = {}
    attributes: dict[tuple[str, str], str] = {}
    pseudo = {
        "AWS::StackName": stack_name,
        "AWS::Region": region,
        "AWS::AccountId": ACCOUNT_ID,
        "AWS::URLSuffix": "amazonaws.com",
        "AWS::Partition": "aws",
    }
    resolver = Resolver(parameters, refs, attributes, pseudo, template.document.get("Conditions", {}))

    outputs = _create_stack(client("cloudformation", endpoint, region), transformed, stack_name, parameters)
    for name, spec in template.resources.items():
        if spec.get("Type") not in STACK_RESOURCES:
            continue
        refs[name] = outputs[f"{name}Ref"]
        for attribute in STACK_RESOURCES[spec["Type"]][1]:
            attributes[(name, attribute)] = outputs[f"{name}{attribute}"]
    for name in template.of_type("AWS::SQS::Queue"):
        # moto answers https://sqs.<region>.amazonaws.com/...; the local URL names the endpoint.
        url = f"{endpoint}/{ACCOUNT_ID}/{attributes[(name, 'QueueName')]}"
        refs[name] = attributes[(name, "QueueUrl")] = url

    dynamodb = client("dynamodb", endpoint, region)
    for name, spec in template.of_type("AWS::DynamoDB::Table").items():
        ttl = spec.get("Properties", {}).get("TimeToLiveSpecification")
        if ttl and ttl.get("Enabled"):
            dynamodb.update_time_to_live(
                TableName=refs[name],
                TimeToLiveSpecification={"Enabled": True, "AttributeName": ttl["AttributeName"]},
            )

    for name, spec in template.of_type("AWS::DynamoDB::Table").items():
        if "StreamSpecification" in spec.get("Properties", {}):
            table = dynamodb.describe_table(TableName=refs[name])["Table"]
            attributes[(name, "StreamArn")] = table["LatestStreamArn"]
    _create_event_buses(template, client("events", endpoint, region), resolver, stack_name)

    s3 = client("s3", endpoint, region)
    for name, spec in template.of_type("AWS::S3::Bucket").items():
        _configure_bucket(s3, refs[name], resolver.resolve(spec.get("Properties", {})))

    secrets = client("secretsmanager", endpoint, region)
    for name, spec in template.of_type("AWS::SecretsManager::Secret").items():
        secret_name = resolver.resolve(spec.get("Properties", {}).get("Name", f"{stack_name}/{name}"))
        value = secret_values.get(name)
        if value is None:
            raise SystemExit(f"local stack: no local value for secret {name}; add one in local/config.py")
        refs[name] = secrets.create_secret(Name=secret_name, SecretString=value)["ARN"]

    # Not created on the endpoint (nothing local reads logs or assumes roles); their names and ARNs
    # are what the roles' policies name, and local/iam/ enforces those policies.
    for name in template.of_type("AWS::Logs::LogGroup"):
        group = f"/aws/lambda/{stack_name}-{name}"
        refs[name] = group
        attributes[(name, "Arn")] = f"arn:aws:logs:{region}:{ACCOUNT_ID}:log-group:{group}:*"
    for name in template.of_type("AWS::IAM::Role"):
        refs[name] = f"{stack_name}-{name}"
        attributes[(name, "Arn")] = f"arn:aws:iam::{ACCOUNT_ID}:role/{stack_name}-{name}"

    for name in template.of_type("AWS::Serverless::Api"):
        refs[name] = "local"
    for name in template.of_type("AWS::Serverless::LayerVersion"):
        refs[name] = f"arn:aws:lambda:{region}:{ACCOUNT_ID}:layer:{name}:1"
    return resolver


def _create_stack(
    cloudformation: Any, transformed: Mapping[str, Any], stack_name: str, parameters: Mapping[str, str]
) -> dict[str, str]:
    """The data resources as one moto CloudFormation stack; its outputs are each one's Ref and
    attributes, keyed `<LogicalId><Attribute>` (Ref as `<LogicalId>Ref`)."""
    resources: dict[str, Any] = {}
    outputs: dict[str, Any] = {}
    for name, resource in transformed["Resources"].items():
        if resource.get("Type") not in STACK_RESOURCES:
            continue
        name_property, attributes = STACK_RESOURCES[resource["Type"]]
        properties = dict(resource.get("Properties", {}))
        # `<stack>-<LogicalId>`, not CloudFormation's random suffix: `make ops` and `make redrive`
        # find the local resources by these names.
        physical = f"{stack_name}-{name}"
        properties[name_property] = physical.lower() if resource["Type"] == "AWS::S3::Bucket" else physical
        # Only what moto acts on: it parses the body as YAML (in pure Python), so size is time.
        resources[name] = {"Type": resource["Type"], "Properties": properties}
        if "Condition" in resource:
            resources[name]["Condition"] = resource["Condition"]
        outputs[f"{name}Ref"] = {"Value": {"Ref": name}}
        for attribute in attributes:
            outputs[f"{name}{attribute}"] = {"Value": {"Fn::GetAtt": [name, attribute]}}
    declared = {
        name: {key: spec[key] for key in ("Type", "Default") if key in spec}
        for name, spec in transformed.get("Parameters", {}).items()
    }
    body = {
        "Parameters": declared,
        "Conditions": transformed.get("Conditions", {}),
        "Resources": resources,
        "Outputs": outputs,
    }
    cloudformation.create_stack(
        StackName=stack_name,
        TemplateBody=json.dumps(body, separators=(",", ":")),
        Parameters=[
            {"ParameterKey": key, "ParameterValue": value}
            for key, value in parameters.items()
            if key in declared
        ],
    )
    stack = cloudformation.describe_stacks(StackName=stack_name)["Stacks"][0]
    if stack["StackStatus"] != "CREATE_COMPLETE":
        raise SystemExit(f"local stack: moto's CloudFormation said {stack['StackStatus']}")
    return {output["OutputKey"]: output["OutputValue"] for output in stack.get("Outputs", [])}


def _create_event_buses(template: Template, events: Any, resolver: Resolver, stack_name: str) -> None:
    """Buses, their archives and policies. Not through moto's CloudFormation: the bus keeps the name
    the template gives it (the local bus is `magic-hour-pipeline`, as the contract says), and
    moto's stack outputs cannot return a bus's Ref."""
    for name, spec in template.of_type("AWS::Events::EventBus").items():
        bus_name = str(resolver.resolve(spec["Properties"]["Name"]))
        arn = events.create_event_bus(Name=bus_name)["EventBusArn"]
        resolver.refs[name] = resolver.attributes[(name, "Name")] = bus_name
        resolver.attributes[(name, "Arn")] = arn
    for name, spec in template.of_type("AWS::Events::Archive").items():
        if "Condition" in spec and not resolver.condition(spec["Condition"]):
            continue
        properties = resolver.resolve(spec["Properties"])
        events.create_archive(
            ArchiveName=f"{stack_name}-{name}"[:48],
            EventSourceArn=properties["SourceArn"],
            Description=properties.get("Description", ""),
            RetentionDays=int(properties["RetentionDays"]),
        )
    for spec in template.of_type("AWS::Events::EventBusPolicy").values():
        if "Condition" in spec and not resolver.condition(spec["Condition"]):
            continue
        properties = resolver.resolve(spec["Properties"])
        statement = {"Sid": properties["StatementId"], **properties["Statement"]}
        principal = statement.get("Principal", {})
        if isinstance(principal.get("AWS"), str):  # a CommaDelimitedList parameter, by Ref
            principal["AWS"] = principal["AWS"].split(",")
        events.put_permission(
            EventBusName=properties["EventBusName"],
            Policy=json.dumps({"Version": "2012-10-17", "Statement": [statement]}),
        )


def _configure_bucket(s3: Any, bucket: str, properties: dict[str, Any]) -> None:
    """What moto's CloudFormation leaves out of a bucket (it applies BucketEncryption itself)."""
    if "PublicAccessBlockConfiguration" in properties:
        s3.put_public_access_block(
            Bucket=bucket, PublicAccessBlockConfiguration=properties["PublicAccessBlockConfiguration"]
        )
    if properties.get("VersioningConfiguration", {}).get("Status") == "Enabled":
        s3.put_bucket_versioning(Bucket=bucket, VersioningConfiguration={"Status": "Enabled"})
    rules = properties.get("LifecycleConfiguration", {}).get("Rules")
    if rules:
        s3.put_bucket_lifecycle_configuration(
            Bucket=bucket,
            LifecycleConfiguration={"Rules": [_lifecycle_rule(rule) for rule in rules]},
        )


def _lifecycle_rule(rule: dict[str, Any]) -> dict[str, Any]:
    """CloudFormation's shape of a lifecycle rule -> S3's."""
    converted: dict[str, Any] = {
        "ID": rule.get("Id", "rule"),
        "Status": rule["Status"],
        "Filter": {"Prefix": rule.get("Prefix", "")},
    }
    if "AbortIncompleteMultipartUpload" in rule:
        converted["AbortIncompleteMultipartUpload"] = {
            "DaysAfterInitiation": int(rule["AbortIncompleteMultipartUpload"]["DaysAfterInitiation"])
        }
    if "ExpirationInDays" in rule:
        converted["Expiration"] = {"Days": int(rule["ExpirationInDays"])}
    if "ExpiredObjectDeleteMarker" in rule:
        converted["Expiration"] = {"ExpiredObjectDeleteMarker": bool(rule["ExpiredObjectDeleteMarker"])}
    if "NoncurrentVersionExpiration" in rule:
        converted["NoncurrentVersionExpiration"] = {
            "NoncurrentDays": int(rule["NoncurrentVersionExpiration"]["NoncurrentDays"])
        }
    return converted
