"""IAM, enforced locally: each function may make only the AWS calls its role in template.yaml allows.

The roles are read from the template after the SAM transform (aws-sam-translator, as
CloudFormation would), their intrinsics resolved against the local resources. The local Lambda
runtime installs `install()` in each worker before the handler is imported: every boto3 call of
that worker is mapped to the IAM actions and resource ARNs AWS would authorize it against, and
refused with AWS's AccessDenied (naming the function, the action and the ARN, also written to the
function log) when the role does not allow it. Nothing else is checked: tests and operators talk
to the moto server with any credentials, as docs/local-stack.md says.

Evaluation is the identity-policy part of AWS's logic: an explicit Deny wins, then any Allow;
Action/NotAction and Resource/NotResource with `*` and `?` wildcards. A statement with a Condition
is never taken as an Allow (no condition keys exist locally), so a conditional grant fails loudly
here rather than passing here and failing in AWS.
"""

from __future__ import annotations

import copy
import json
import re
import sys
import threading
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import unquote, urlsplit

from local.template import Resolver, Template

# What SAM attaches to the roles it generates. Listed so the "before" figures and any role that
# still uses one are evaluated as AWS would (these are the managed policies' documents).
MANAGED_POLICIES: dict[str, list[dict[str, Any]]] = {
    "service-role/AWSLambdaBasicExecutionRole": [
        {
            "Effect": "Allow",
            "Action": ["logs:CreateLogGroup", "logs:CreateLogStream", "logs:PutLogEvents"],
            "Resource": "*",
        }
    ],
    "AWSXrayWriteOnlyAccess": [
        {
            "Effect": "Allow",
            "Action": [
                "xray:PutTraceSegments",
                "xray:PutTelemetryRecords",
                "xray:GetSamplingRules",
                "xray:GetSamplingTargets",
                "xray:GetSamplingStatisticSummaries",
            ],
            "Resource": "*",
        }
    ],
    "service-role/AWSLambdaSQSQueueExecutionRole": [
        {
            "Effect": "Allow",
            "Action": ["sqs:ReceiveMessage", "sqs:DeleteMessage", "sqs:GetQueueAttributes"],
            "Resource": "*",
        },
        {
            "Effect": "Allow",
            "Action": ["logs:CreateLogGroup", "logs:CreateLogStream", "logs:PutLogEvents"],
            "Resource": "*",
        },
    ],
}

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


# -- policies ------------------------------------------------------------------------------------


def _as_list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else [value]


def _matches(patterns: Iterable[str], value: str, case_sensitive: bool) -> bool:
    for pattern in patterns:
        # IAM's wildcards are only '*' (any run, ':' and '/' included) and '?' (one character).
        regex = re.escape(str(pattern)).replace(r"\*", ".*").replace(r"\?", ".")
        if re.fullmatch(regex, value, 0 if case_sensitive else re.IGNORECASE):
            return True
    return False


@dataclass(frozen=True)
class Policy:
    """One function's identity policy, resolved to concrete ARNs."""

    function: str
    role: str
    statements: tuple[dict[str, Any], ...]

    def allows(self, action: str, resource: str) -> bool:
        allowed = False
        for statement in self.statements:
            if not self._applies(statement, action, resource):
                continue
            if statement.get("Effect") == "Deny":
                if "Condition" not in statement:
                    return False
            elif "Condition" not in statement:
                allowed = True
        return allowed

    @staticmethod
    def _applies(statement: Mapping[str, Any], action: str, resource: str) -> bool:
        if "Action" in statement:
            if not _matches(_as_list(statement["Action"]), action, case_sensitive=False):
                return False
        elif "NotAction" in statement:
            if _matches(_as_list(statement["NotAction"]), action, case_sensitive=False):
                return False
        else:
            return False
        if "Resource" in statement:
            return _matches(_as_list(statement["Resource"]), resource, case_sensitive=True)
        if "NotResource" in statement:
            return not _matches(_as_list(statement["NotResource"]), resource, case_sensitive=True)
        return False


def sam_transform(document: Mapping[str, Any], region: str = "us-east-1") -> dict[str, Any]:
    """template.yaml as CloudFormation sees it after `Transform: AWS::Serverless-2016-10-31`."""
    import boto3
    from samtranslator.parser.parser import Parser
    from samtranslator.translator.translator import Translator

    sam = copy.deepcopy(dict(document))
    for resource in sam.get("Resources", {}).values():
        properties = resource.get("Properties", {})
        for key in ("CodeUri", "ContentUri"):
            # `sam build`/`sam package` put the code in S3 before the transform runs.
            if isinstance(properties.get(key), str):
                properties[key] = f"s3://local-code/{properties[key].strip('/')}"
    translator = Translator(None, Parser(), boto_session=boto3.session.Session(region_name=region))
    transformed: dict[str, Any] = translator.translate(
        sam,
        {},
        get_managed_policy_map=lambda: {name: f"arn:aws:iam::aws:policy/{name}" for name in MANAGED_POLICIES},
    )
    # Hand its usage metrics to the translator's offline (no-op) publisher, or it warns at exit.
    translator.metrics.publish()
    return transformed


def role_statements(transformed: Mapping[str, Any]) -> dict[str, tuple[str, list[dict[str, Any]]]]:
    """Function logical id -> (role logical id, unresolved statements) of its execution role."""
    resources = transformed["Resources"]
    result = {}
    for name, resource in resources.items():
        if resource.get("Type") != "AWS::Lambda::Function":
            continue
        role_ref = resource["Properties"].get("Role", {})
        role_name = (
            role_ref["Fn::GetAtt"][0] if isinstance(role_ref, dict) and "Fn::GetAtt" in role_ref else ""
        )
        role = resources.get(role_name, {}).get("Properties", {})
        statements: list[dict[str, Any]] = []
        for policy in role.get("Policies", []):
            statements.extend(_as_list(policy["PolicyDocument"]["Statement"]))
        for arn in role.get("ManagedPolicyArns", []):
            text = arn if isinstance(arn, str) else json.dumps(arn)
            managed = text.split(":policy/", 1)[-1]
            statements.extend(MANAGED_POLICIES.get(managed, []))
        result[name] = (role_name, statements)
    return result


def every_statement(statements: Iterable[Any]) -> list[dict[str, Any]]:
    """The statements a role may hold, whichever way its conditions go: each branch of an
    `Fn::If` statement counts (for static listings; enforcement resolves the conditions)."""
    found: list[dict[str, Any]] = []
    for statement in statements:
        if isinstance(statement, dict) and set(statement) == {"Fn::If"}:
            _, if_true, if_false = statement["Fn::If"]
            found.extend(every_statement([if_true, if_false]))
        elif isinstance(statement, dict) and "Effect" in statement:
            found.append(statement)
    return found


def function_policies(
    document: Mapping[str, Any],
    resolver: Resolver,
    region: str,
    transformed: Mapping[str, Any] | None = None,
) -> dict[str, Policy]:
    """Every function's policy, with Ref/GetAtt/Sub resolved against the local resources.
    `transformed` is `document` after the SAM transform, when the caller has it already."""
    if transformed is None:
        transformed = sam_transform(document, region)
    return {
        function: Policy(function, role, tuple(resolver.resolve(statements)))
        for function, (role, statements) in role_statements(transformed).items()
    }


# -- enforcement in a Lambda worker ---------------------------------------------------------------


class _EmptyBody:
    def stream(self, **_: Any) -> Iterable[bytes]:
        return iter(())

    def read(self, *_: Any) -> bytes:
        return b""


_ERROR_SHAPES = {
    # service: (error code, HTTP status), as each service answers an unauthorized call
    "dynamodb": ("AccessDeniedException", 400),
    "secretsmanager": ("AccessDeniedException", 400),
    "s3": ("AccessDenied", 403),
    "sqs": ("AccessDenied", 403),
    "events": ("AccessDeniedException", 400),
    "streams.dynamodb": ("AccessDeniedException", 400),
}


@dataclass
class Enforcer:
    policy: Policy
    place: Place
    denials: list[str] = field(default_factory=list)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def denial(self, service: str, operation: str, params: Mapping[str, Any]) -> str | None:
        for action, resource in requests_of(service, operation, params, self.place):
            if not self.policy.allows(action, resource):
                return (
                    f"User: arn:aws:sts::{self.place.account}:assumed-role/{self.policy.role}/"
                    f"{self.policy.function} is not authorized to perform: {action} on resource: "
                    f"{resource} because no identity-based policy allows the {action} action "
                    f"(local IAM: grant it to {self.policy.function} in template.yaml, {self.policy.role})"
                )
        return None

    def record(self, message: str, action_call: str) -> None:
        with self._lock:
            self.denials.append(message)
        # One JSON line in the function's log, like a Powertools error line.
        print(
            json.dumps(
                {
                    "level": "ERROR",
                    "location": "local.iam",
                    "message": f"AccessDenied: {message}",
                    "function": self.policy.function,
                    "call": action_call,
                }
            ),
            file=sys.stderr,
            flush=True,
        )

    def attach(self, client: Any) -> None:
        service = client.meta.service_model.endpoint_prefix
        events = client.meta.events

        def check(params: Mapping[str, Any], model: Any, context: dict[str, Any], **_: Any) -> None:
            message = self.denial(service, model.name, params)
            if message is None:
                return
            self.record(message, f"{service}.{model.name}")
            if context.get("is_presign_request"):
                # AWS would sign the URL and refuse it when used; moto serves anything, so the
                # refusal comes when signing.
                from botocore.exceptions import ClientError

                code, status = _ERROR_SHAPES.get(service, ("AccessDenied", 403))
                error: Any = {
                    "Error": {"Code": code, "Message": message},
                    "ResponseMetadata": {"HTTPStatusCode": status},
                }
                raise ClientError(error, model.name)
            context["local_iam_denial"] = message

        def note_listing(params: Mapping[str, Any], context: dict[str, Any], **_: Any) -> None:
            bucket = f"arn:aws:s3:::{params.get('Bucket', '')}"
            context["local_iam_may_list"] = self.policy.allows("s3:ListBucket", bucket)

        def hide_missing(
            http_response: Any, parsed: dict[str, Any], context: dict[str, Any], **_: Any
        ) -> None:
            # S3 answers 403, not 404, for a missing key to a caller without s3:ListBucket on the
            # bucket (so code that tells "not stored yet" by a 404 needs that grant).
            if http_response.status_code == 404 and context.get("local_iam_may_list") is False:
                http_response.status_code = 403
                parsed["Error"] = {
                    "Code": "AccessDenied" if parsed.get("Error", {}).get("Message") else "403",
                    "Message": "Access Denied",
                }
                parsed.setdefault("ResponseMetadata", {})["HTTPStatusCode"] = 403

        def refuse(context: dict[str, Any], **_: Any) -> Any:
            message = context.get("local_iam_denial")
            if message is None:
                return None
            from botocore.awsrequest import AWSResponse

            code, status = _ERROR_SHAPES.get(service, ("AccessDenied", 403))
            headers: Any = {}
            http = AWSResponse("local-iam", status, headers, _EmptyBody())
            parsed = {
                "Error": {"Code": code, "Message": message},
                "ResponseMetadata": {"HTTPStatusCode": status, "HTTPHeaders": {}},
            }
            return http, parsed

        events.register("before-parameter-build", check, unique_id="local-iam-check")
        events.register("before-call", refuse, unique_id="local-iam-refuse")
        if service == "s3":
            for operation in ("HeadObject", "GetObject"):
                events.register(f"before-parameter-build.s3.{operation}", note_listing)
                events.register(f"after-call.s3.{operation}", hide_missing)


_installed: Enforcer | None = None


def install(policy: Policy, place: Place) -> Enforcer:
    """Check every boto3 client made in this process from now on (the worker calls this before
    importing the handler, so the product code never knows)."""
    global _installed
    import botocore.session

    enforcer = Enforcer(policy, place)
    if _installed is None:
        original = botocore.session.Session.create_client

        def create_client(self: Any, *args: Any, **kwargs: Any) -> Any:
            client = original(self, *args, **kwargs)
            if _installed is not None:
                _installed.attach(client)
            return client

        botocore.session.Session.create_client = create_client  # type: ignore[method-assign]
    _installed = enforcer
    return enforcer
