"""The local IAM evaluation (local/iam/): which action and ARN each call is authorized against,
how statements decide, and what a refused call looks like to the code and in the log."""

from __future__ import annotations

import http.server
import threading
from collections.abc import Iterator
from typing import Any

import boto3
import pytest
from botocore.config import Config
from botocore.exceptions import ClientError, EndpointConnectionError

from local import iam
from local.resources import ACCOUNT_ID
from local.template import Resolver, Template, load_template

REGION = "us-east-1"
TABLE = f"arn:aws:dynamodb:{REGION}:{ACCOUNT_ID}:table/jobs"
SECRET_ARN = f"arn:aws:secretsmanager:{REGION}:{ACCOUNT_ID}:secret:stack/magic-hour/api-key-AbCdEf"
PLACE = iam.Place(REGION, ACCOUNT_ID, {"stack/magic-hour/api-key": SECRET_ARN})


def policy(*statements: dict[str, Any]) -> iam.Policy:
    return iam.Policy("WebhookFunction", "WebhookFunctionRole", statements)


def allow(action: Any, resource: Any) -> dict[str, Any]:
    return {"Effect": "Allow", "Action": action, "Resource": resource}


# -- what a call is authorized against ------------------------------------------------------------


def test_a_query_on_an_index_is_authorized_against_the_index_arn() -> None:
    assert iam.requests_of(
        "dynamodb", "Query", {"TableName": "jobs", "IndexName": "ProjectIndex"}, PLACE
    ) == [("dynamodb:Query", f"{TABLE}/index/ProjectIndex")]
    assert iam.requests_of("dynamodb", "GetItem", {"TableName": "jobs", "Key": {}}, PLACE) == [
        ("dynamodb:GetItem", TABLE)
    ]


def test_a_transaction_is_authorized_item_by_item() -> None:
    items = [
        {"Put": {"TableName": "jobs", "Item": {}}},
        {"Update": {"TableName": "clients", "Key": {}}},
        {"ConditionCheck": {"TableName": "clients", "Key": {}}},
    ]
    assert iam.requests_of("dynamodb", "TransactWriteItems", {"TransactItems": items}, PLACE) == [
        ("dynamodb:PutItem", TABLE),
        ("dynamodb:UpdateItem", TABLE.replace("jobs", "clients")),
        ("dynamodb:ConditionCheckItem", TABLE.replace("jobs", "clients")),
    ]


def test_sqs_calls_name_the_queue_arn_from_its_url_and_batches_need_the_single_action() -> None:
    url = "http://127.0.0.1:5000/123456789012/pipeline-DownloadQueue"
    assert iam.requests_of("sqs", "SendMessageBatch", {"QueueUrl": url}, PLACE) == [
        ("sqs:SendMessage", f"arn:aws:sqs:{REGION}:123456789012:pipeline-DownloadQueue")
    ]
    assert iam.requests_of(
        "sqs", "GetQueueUrl", {"QueueName": "q", "QueueOwnerAWSAccountId": "999"}, PLACE
    ) == [("sqs:GetQueueUrl", f"arn:aws:sqs:{REGION}:999:q")]


def test_s3_operations_map_to_their_iam_actions_on_object_or_bucket() -> None:
    assert iam.requests_of("s3", "HeadObject", {"Bucket": "b", "Key": "jobs/1/x"}, PLACE) == [
        ("s3:GetObject", "arn:aws:s3:::b/jobs/1/x")
    ]
    assert iam.requests_of("s3", "UploadPart", {"Bucket": "b", "Key": "k", "PartNumber": 1}, PLACE) == [
        ("s3:PutObject", "arn:aws:s3:::b/k")
    ]
    assert iam.requests_of("s3", "ListObjectsV2", {"Bucket": "b", "Prefix": "jobs/"}, PLACE) == [
        ("s3:ListBucket", "arn:aws:s3:::b")
    ]
    # botocore has turned CopySource into "bucket/key" (URL-quoted) before the check sees it.
    assert iam.requests_of(
        "s3", "CopyObject", {"Bucket": "b", "Key": "k", "CopySource": "src/a%20b"}, PLACE
    ) == [
        ("s3:GetObject", "arn:aws:s3:::src/a b"),
        ("s3:PutObject", "arn:aws:s3:::b/k"),
    ]


def test_a_secret_named_by_name_is_authorized_against_its_arn_with_the_random_suffix() -> None:
    arn = PLACE.secret_arns["stack/magic-hour/api-key"]
    assert iam.requests_of(
        "secretsmanager", "GetSecretValue", {"SecretId": "stack/magic-hour/api-key"}, PLACE
    ) == [("secretsmanager:GetSecretValue", arn)]
    assert iam.requests_of("secretsmanager", "GetSecretValue", {"SecretId": arn}, PLACE) == [
        ("secretsmanager:GetSecretValue", arn)
    ]
    assert iam.secret_arns_by_name([arn]) == {"stack/magic-hour/api-key": arn}


# -- how statements decide ------------------------------------------------------------------------


def test_nothing_is_allowed_without_a_statement_that_allows_it() -> None:
    assert not policy().allows("dynamodb:GetItem", TABLE)
    assert not policy(allow("dynamodb:GetItem", TABLE)).allows("dynamodb:PutItem", TABLE)
    assert not policy(allow("dynamodb:GetItem", TABLE)).allows("dynamodb:GetItem", TABLE + "2")


def test_a_table_grant_does_not_cover_its_indexes() -> None:
    assert not policy(allow("dynamodb:Query", TABLE)).allows("dynamodb:Query", f"{TABLE}/index/ProjectIndex")
    assert policy(allow("dynamodb:Query", f"{TABLE}/index/*")).allows(
        "dynamodb:Query", f"{TABLE}/index/ProjectIndex"
    )


def test_wildcards_and_case_are_as_iam_has_them() -> None:
    granted = policy(
        allow(["sqs:SendMessage*", "S3:getobject"], ["arn:aws:s3:::b/jobs/*", "arn:aws:sqs:*:*:q?"])
    )
    assert granted.allows("sqs:SendMessageBatch", "arn:aws:sqs:us-east-1:1:q1")
    assert not granted.allows("sqs:SendMessage", "arn:aws:sqs:us-east-1:1:q12")
    assert granted.allows("s3:GetObject", "arn:aws:s3:::b/jobs/1/output-0.mp4")
    # Actions ignore case; resources do not.
    assert not granted.allows("s3:GetObject", "arn:aws:s3:::B/jobs/1")
    assert not granted.allows("s3:GetObject", "arn:aws:s3:::b/other/1")


def test_an_explicit_deny_wins_and_not_action_not_resource_work() -> None:
    statements = [
        allow("dynamodb:*", TABLE),
        {"Effect": "Deny", "Action": "dynamodb:DeleteItem", "Resource": "*"},
        {"Effect": "Allow", "NotAction": "s3:*", "NotResource": TABLE},
    ]
    granted = policy(*statements)
    assert granted.allows("dynamodb:UpdateItem", TABLE)
    assert not granted.allows("dynamodb:DeleteItem", TABLE)
    assert granted.allows("sqs:SendMessage", "arn:aws:sqs:us-east-1:1:q")
    assert not granted.allows("s3:GetObject", "arn:aws:s3:::b/k")


def test_a_conditional_allow_is_never_taken() -> None:
    conditional = {**allow("s3:GetObject", "*"), "Condition": {"Bool": {"aws:SecureTransport": "true"}}}
    assert not policy(conditional).allows("s3:GetObject", "arn:aws:s3:::b/k")


# -- the template's roles, resolved ---------------------------------------------------------------


def test_the_template_roles_resolve_to_the_local_resources() -> None:
    template = Template(load_template())
    refs: dict[str, str] = {}
    attributes: dict[tuple[str, str], str] = {}
    for name in template.resources:
        refs[name] = f"ref-{name}"
        attributes[(name, "Arn")] = f"arn:{name}"
        attributes[(name, "QueueName")] = name
    attributes[("JobsTable", "StreamArn")] = "arn:JobsTable/stream/1"
    attributes[("ClientsTable", "StreamArn")] = "arn:ClientsTable/stream/1"
    resolver = Resolver(
        template.parameter_defaults(),
        refs,
        attributes,
        {"AWS::Region": REGION, "AWS::AccountId": ACCOUNT_ID, "AWS::Partition": "aws"},
        template.document.get("Conditions", {}),
    )
    policies = iam.function_policies(template.document, resolver, REGION)
    webhook = policies["WebhookFunction"]
    assert webhook.role == "WebhookFunctionRole"
    assert webhook.allows("dynamodb:Query", "arn:JobsTable/index/ProjectIndex")
    assert not webhook.allows("dynamodb:Query", "arn:JobsTable/index/ClientJobsIndex")
    assert webhook.allows("sqs:SendMessage", "arn:DownloadQueue")
    assert not webhook.allows("dynamodb:PutItem", "arn:JobsTable")
    assert webhook.allows("secretsmanager:GetSecretValue", "ref-MagicHourWebhookSecret")
    assert not webhook.allows("secretsmanager:GetSecretValue", "ref-MagicHourApiKeySecret")
    assert policies["DownloaderFunction"].allows("sqs:ReceiveMessage", "arn:DownloadQueue")
    assert not policies["DownloaderFunction"].allows("sqs:ReceiveMessage", "arn:CallbackQueue")
    # The events function: the two stream reads (jobs, and batches in the clients table), PutEvents
    # on the stack's bus, and a batch's read and end (a batch job's ending ends its batch if it was
    # the last); no job item read, no batch written whole.
    events = policies["EventsFunction"]
    assert events.allows("dynamodb:GetRecords", "arn:JobsTable/stream/1")
    assert events.allows("dynamodb:GetRecords", "arn:ClientsTable/stream/1")
    assert events.allows("dynamodb:GetItem", "arn:ClientsTable")
    assert events.allows("dynamodb:UpdateItem", "arn:ClientsTable")
    assert not events.allows("dynamodb:PutItem", "arn:ClientsTable")
    assert not events.allows("dynamodb:GetItem", "arn:JobsTable")
    assert events.allows("events:PutEvents", "arn:EventBus")
    assert not events.allows("events:PutEvents", "arn:aws:events:us-east-1:123456789012:event-bus/default")
    assert events.allows("sqs:SendMessage", "arn:EventsFailureQueue")
    for other, policy in policies.items():
        if other != "EventsFunction":
            assert not policy.allows("events:PutEvents", "arn:EventBus"), other


def test_sam_generated_roles_carry_their_managed_policies() -> None:
    document = {
        "Transform": "AWS::Serverless-2016-10-31",
        "Resources": {
            "Fn": {
                "Type": "AWS::Serverless::Function",
                "Properties": {
                    "CodeUri": "functions/x/",
                    "Handler": "app.h",
                    "Runtime": "python3.13",
                    "Policies": [{"Statement": [allow("dynamodb:GetItem", "arn:t")]}],
                    "Events": {"Q": {"Type": "SQS", "Properties": {"Queue": "arn:aws:sqs:us-east-1:1:q"}}},
                },
            }
        },
    }
    role, statements = iam.role_statements(iam.sam_transform(document))["Fn"]
    granted = iam.Policy("Fn", role, tuple(statements))
    assert role == "FnRole"
    assert granted.allows("dynamodb:GetItem", "arn:t")
    # AWSLambdaSQSQueueExecutionRole: every queue in the account (why the template has own roles).
    assert granted.allows("sqs:DeleteMessage", "arn:aws:sqs:us-east-1:1:anyone-elses-queue")


# -- a refused call, as the code and the log see it ----------------------------------------------


class _NotFound(http.server.BaseHTTPRequestHandler):
    def do_HEAD(self) -> None:
        self.send_response(404)
        self.send_header("Content-Length", "0")
        self.end_headers()

    def log_message(self, *_: Any) -> None:
        pass


@pytest.fixture
def not_found_endpoint() -> Iterator[str]:
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _NotFound)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()


def _client(service: str, endpoint: str) -> Any:
    factory: Any = boto3.client
    return factory(
        service,
        endpoint_url=endpoint,
        region_name=REGION,
        aws_access_key_id="local",
        aws_secret_access_key="local",
        config=Config(retries={"max_attempts": 1}, connect_timeout=0.5),
    )


def test_a_refused_call_raises_access_denied_naming_function_action_and_arn(
    capfd: pytest.CaptureFixture[str],
) -> None:
    client = _client("dynamodb", "http://127.0.0.1:9")
    enforcer = iam.Enforcer(policy(allow("dynamodb:GetItem", TABLE)), PLACE)
    enforcer.attach(client)
    with pytest.raises(ClientError) as refused:
        client.put_item(TableName="jobs", Item={"job_id": {"S": "x"}})
    error = refused.value.response["Error"]
    assert error["Code"] == "AccessDeniedException"
    assert refused.value.response["ResponseMetadata"]["HTTPStatusCode"] == 400
    assert (
        "WebhookFunction is not authorized to perform: dynamodb:PutItem on resource: " + TABLE
        in error["Message"]
    )
    assert "WebhookFunctionRole" in error["Message"]
    # ... and the same line is in the function's log.
    log = capfd.readouterr().err
    assert f"AccessDenied: {error['Message']}" in log
    assert enforcer.denials == [error["Message"]]


def test_an_allowed_call_goes_to_the_endpoint() -> None:
    client = _client("dynamodb", "http://127.0.0.1:9")
    iam.Enforcer(policy(allow("dynamodb:GetItem", TABLE)), PLACE).attach(client)
    with pytest.raises(EndpointConnectionError):
        client.get_item(TableName="jobs", Key={"job_id": {"S": "x"}})


def test_s3_refusals_use_s3s_error_and_presigning_is_refused_too() -> None:
    client = _client("s3", "http://127.0.0.1:9")
    iam.Enforcer(policy(allow("s3:GetObject", "arn:aws:s3:::b/jobs/*")), PLACE).attach(client)
    with pytest.raises(ClientError) as refused:
        client.put_object(Bucket="b", Key="jobs/1", Body=b"x")
    assert refused.value.response["Error"]["Code"] == "AccessDenied"
    assert refused.value.response["ResponseMetadata"]["HTTPStatusCode"] == 403
    assert client.generate_presigned_url("get_object", Params={"Bucket": "b", "Key": "jobs/1"})
    with pytest.raises(ClientError, match=r"s3:GetObject on resource: arn:aws:s3:::b/other"):
        client.generate_presigned_url("get_object", Params={"Bucket": "b", "Key": "other"})


def test_a_missing_key_is_403_without_list_bucket_and_404_with_it(not_found_endpoint: str) -> None:
    without = _client("s3", not_found_endpoint)
    iam.Enforcer(policy(allow("s3:GetObject", "arn:aws:s3:::b/*")), PLACE).attach(without)
    with pytest.raises(ClientError) as hidden:
        without.head_object(Bucket="b", Key="missing")
    assert hidden.value.response["ResponseMetadata"]["HTTPStatusCode"] == 403

    with_list = _client("s3", not_found_endpoint)
    iam.Enforcer(
        policy(allow("s3:GetObject", "arn:aws:s3:::b/*"), allow("s3:ListBucket", "arn:aws:s3:::b")), PLACE
    ).attach(with_list)
    with pytest.raises(ClientError) as missing:
        with_list.head_object(Bucket="b", Key="missing")
    assert missing.value.response["Error"]["Code"] == "404"
