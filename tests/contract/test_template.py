"""template.yaml as the local stack reads it (local.template), and properties the deployment relies on."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from local.template import TEMPLATE_PATH, Resolver, Template, _path_pattern, load_template
from pipeline.platform.settings import Settings, _from_environment

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def document() -> dict[str, Any]:
    return load_template()


@pytest.fixture(scope="module")
def template(document: dict[str, Any]) -> Template:
    return Template(document)


def resource(document: dict[str, Any], name: str) -> dict[str, Any]:
    properties: dict[str, Any] = document["Resources"][name]["Properties"]
    return properties


def test_template_path_is_the_project_template() -> None:
    assert TEMPLATE_PATH == ROOT / "template.yaml"


def test_short_form_tags_become_long_form_intrinsics(document: dict[str, Any]) -> None:
    assert resource(document, "SharedLayer")["LayerName"] == {"Fn::Sub": "${AWS::StackName}-shared"}
    redrive = resource(document, "DownloadQueue")["RedrivePolicy"]
    assert redrive["deadLetterTargetArn"] == {"Fn::GetAtt": ["DownloadDeadLetterQueue", "Arn"]}
    assert document["Globals"]["Function"]["Layers"] == [{"Ref": "SharedLayer"}]


def test_routes_and_their_api_key_requirements(template: Template) -> None:
    routes = {(route.method, route.path): route for route in template.routes()}
    assert set(routes) == {
        ("POST", "/v1/jobs"),
        ("GET", "/v1/jobs"),
        ("GET", "/v1/jobs/{job_id}"),
        ("POST", "/v1/jobs/{job_id}/cancel"),
        ("POST", "/v1/batches"),
        ("GET", "/v1/batches"),
        ("GET", "/v1/batches/{batch_id}"),
        ("GET", "/v1/batches/{batch_id}/jobs"),
        ("POST", "/v1/batches/{batch_id}/cancel"),
        ("GET", "/v1/tools"),
        ("POST", "/v1/uploads"),
        ("GET", "/v1/callback-secret"),
        ("POST", "/v1/callback-secret/rotate"),
        ("GET", "/v1/usage"),
        ("POST", "/webhooks/magic-hour"),
        ("POST", "/webhooks/magic-hour/{token}"),
    }
    for key in [
        ("POST", "/v1/jobs"),
        ("GET", "/v1/jobs"),
        ("GET", "/v1/jobs/{job_id}"),
        ("POST", "/v1/jobs/{job_id}/cancel"),
        ("POST", "/v1/batches"),
        ("GET", "/v1/batches"),
        ("GET", "/v1/batches/{batch_id}"),
        ("GET", "/v1/batches/{batch_id}/jobs"),
        ("POST", "/v1/batches/{batch_id}/cancel"),
        ("GET", "/v1/tools"),
        ("POST", "/v1/uploads"),
        ("GET", "/v1/callback-secret"),
        ("POST", "/v1/callback-secret/rotate"),
        ("GET", "/v1/usage"),
    ]:
        assert routes[key].api_key_required is True, key
        # Reads have a function of their own, so they never wait behind slow creates.
        assert routes[key].function == ("QueryFunction" if key[0] == "GET" else "SubmitFunction"), key
    webhook = routes[("POST", "/webhooks/magic-hour")]
    assert webhook.api_key_required is False
    assert webhook.function == "WebhookFunction"
    assert routes[("GET", "/v1/jobs/{job_id}")].param_names == ("job_id",)


def test_literal_routes_come_before_parameterised_ones(template: Template) -> None:
    paths = [route.path for route in template.routes()]
    params = [path.count("{") for path in paths]
    assert params == sorted(params)
    assert paths.index("/v1/jobs/{job_id}") > paths.index("/v1/jobs")


def test_sqs_trigger_reports_batch_item_failures(template: Template) -> None:
    triggers = {trigger.function: trigger for trigger in template.queue_triggers()}
    assert set(triggers) == {"DownloaderFunction", "CallbackFunction", "DispatchFunction"}
    assert triggers["DispatchFunction"].queue == "DispatchQueue"
    trigger = triggers["DownloaderFunction"]
    assert trigger.queue == "DownloadQueue"
    assert trigger.report_batch_item_failures is True
    assert trigger.batch_size == 2
    assert triggers["CallbackFunction"].queue == "CallbackQueue"
    assert triggers["CallbackFunction"].report_batch_item_failures is True
    # One callback per invocation: a hanging receiver never holds back another client's record.
    assert triggers["CallbackFunction"].batch_size == 1


def test_the_sweep_is_scheduled(template: Template) -> None:
    (schedule,) = template.schedules()
    assert schedule.function == "SweepFunction"
    assert schedule.expression == {"Fn::Sub": "rate(${SweepIntervalMinutes} minutes)"}


@pytest.mark.parametrize(
    ("response_type", "status", "code"),
    [("INVALID_API_KEY", 401, "unauthorized"), ("MISSING_AUTHENTICATION_TOKEN", 404, "not_found")],
)
def test_gateway_responses_match_the_contract(
    template: Template, response_type: str, status: int, code: str
) -> None:
    response = template.gateway_responses()[response_type]
    assert int(response["StatusCode"]) == status
    body = json.loads(response["ResponseTemplates"]["application/json"])
    assert body["error"]["code"] == code
    assert body["error"]["message"]


def test_functions_inherit_globals_and_keep_their_own(template: Template) -> None:
    functions = template.functions()
    assert set(functions) == {
        "SubmitFunction",
        "QueryFunction",
        "WebhookFunction",
        "DownloaderFunction",
        "SweepFunction",
        "CallbackFunction",
        "DispatchFunction",
        "EventsFunction",
    }
    downloader = functions["DownloaderFunction"]
    assert downloader.timeout == 900
    assert downloader.memory == 1024
    assert downloader.code_uri == "functions/downloader"
    assert downloader.environment["POWERTOOLS_SERVICE_NAME"] == "downloader"
    assert downloader.environment["JOBS_TABLE_NAME"] == {"Ref": "JobsTable"}
    assert functions["WebhookFunction"].memory == 512


def make_resolver() -> Resolver:
    return Resolver(
        parameters={"StageName": "v1stage", "DownloadMaxAttempts": "6"},
        refs={"Api": "abc123", "JobsTable": "local-jobs", "DownloadQueue": "http://q/download"},
        attributes={
            ("DownloadQueue", "Arn"): "arn:aws:sqs:us-east-1:000000000000:download",
            ("OutputBucket", "Arn"): "arn:aws:s3:::outputs",
        },
        pseudo={"AWS::StackName": "stack", "AWS::Region": "us-east-1", "AWS::URLSuffix": "amazonaws.com"},
    )


def test_resolver_resolves_ref_to_parameter_resource_and_pseudo() -> None:
    resolver = make_resolver()
    assert resolver.resolve({"Ref": "StageName"}) == "v1stage"
    assert resolver.resolve({"Ref": "JobsTable"}) == "local-jobs"
    assert resolver.resolve({"Ref": "AWS::Region"}) == "us-east-1"


def test_resolver_refuses_an_unknown_ref() -> None:
    with pytest.raises(KeyError):
        make_resolver().resolve({"Ref": "NoSuchThing"})


def test_resolver_resolves_get_att_in_both_forms() -> None:
    resolver = make_resolver()
    arn = "arn:aws:sqs:us-east-1:000000000000:download"
    assert resolver.resolve({"Fn::GetAtt": ["DownloadQueue", "Arn"]}) == arn
    assert resolver.resolve({"Fn::GetAtt": "DownloadQueue.Arn"}) == arn


def test_resolver_resolves_sub_with_refs_attributes_and_pseudo_parameters() -> None:
    resolver = make_resolver()
    assert resolver.resolve({"Fn::Sub": "${AWS::StackName}-shared"}) == "stack-shared"
    assert resolver.resolve({"Fn::Sub": "${OutputBucket.Arn}/*"}) == "arn:aws:s3:::outputs/*"
    assert (
        resolver.resolve(
            {
                "Fn::Sub": "https://${Api}.execute-api.${AWS::Region}.${AWS::URLSuffix}/${StageName}/webhooks/magic-hour"
            }
        )
        == "https://abc123.execute-api.us-east-1.amazonaws.com/v1stage/webhooks/magic-hour"
    )


def test_resolver_resolves_sub_with_its_own_variables() -> None:
    resolver = make_resolver()
    value = {"Fn::Sub": ["${Name}-${Table}-${AWS::Region}", {"Name": "x", "Table": {"Ref": "JobsTable"}}]}
    assert resolver.resolve(value) == "x-local-jobs-us-east-1"


def test_resolver_sub_escaped_literal_is_rendered_without_the_bang() -> None:
    # CloudFormation: "${!Literal}" resolves to the text "${Literal}".
    assert make_resolver().resolve({"Fn::Sub": "${!Literal}-${AWS::Region}"}) == "${Literal}-us-east-1"


def test_resolver_resolves_join_select_and_nested_structures() -> None:
    resolver = make_resolver()
    value = {
        "Env": {"Table": {"Ref": "JobsTable"}, "Plain": "text", "Count": 3},
        "List": [{"Ref": "StageName"}, {"Fn::Join": [":", ["a", {"Ref": "AWS::Region"}]]}],
        "Pick": {"Fn::Select": [1, ["zero", {"Ref": "Api"}]]},
    }
    assert resolver.resolve(value) == {
        "Env": {"Table": "local-jobs", "Plain": "text", "Count": 3},
        "List": ["v1stage", "a:us-east-1"],
        "Pick": "abc123",
    }


def test_resolver_resolves_real_template_outputs(document: dict[str, Any]) -> None:
    resolver = make_resolver()
    assert resolver.resolve(document["Outputs"]["WebhookUrl"]["Value"]) == (
        "https://abc123.execute-api.us-east-1.amazonaws.com/v1stage/webhooks/magic-hour"
    )


def test_path_pattern_matches_one_segment_parameters() -> None:
    pattern, names = _path_pattern("/v1/jobs/{job_id}")
    assert names == ("job_id",)
    match = pattern.match("/v1/jobs/job_abcdefghijklmnopqrstuvwxyz")
    assert match is not None
    assert match.group("job_id") == "job_abcdefghijklmnopqrstuvwxyz"
    for path in ["/v1/jobs/a/b", "/v1/jobs/", "/v1/jobs", "/v2/jobs/a", "/v1/jobs/a/"]:
        assert pattern.match(path) is None, path


def test_path_pattern_literal_paths_are_exact() -> None:
    pattern, names = _path_pattern("/v1/tools")
    assert names == ()
    assert pattern.match("/v1/tools")
    assert not pattern.match("/v1/toolsx")
    assert not pattern.match("/v1/tools/x")


def test_path_pattern_greedy_parameter_spans_segments() -> None:
    pattern, names = _path_pattern("/files/{proxy+}")
    assert names == ("proxy",)
    match = pattern.match("/files/a/b/c")
    assert match is not None
    assert match.group("proxy") == "a/b/c"


# Properties of the deployment itself.


def test_download_queue_visibility_is_at_least_six_times_the_downloader_timeout(
    document: dict[str, Any], template: Template
) -> None:
    visibility = int(resource(document, "DownloadQueue")["VisibilityTimeout"])
    assert visibility >= 6 * template.functions()["DownloaderFunction"].timeout


def test_max_receive_count_and_downloader_attempts_share_one_parameter(
    document: dict[str, Any], template: Template
) -> None:
    max_receive = resource(document, "DownloadQueue")["RedrivePolicy"]["maxReceiveCount"]
    assert max_receive == {"Ref": "DownloadMaxAttempts"}
    downloader_env = template.functions()["DownloaderFunction"].environment
    assert downloader_env["DOWNLOAD_MAX_ATTEMPTS"] == {"Ref": "DownloadMaxAttempts"}
    assert "DownloadMaxAttempts" in document["Parameters"]
    # And the code's own default agrees with the template's.
    assert int(template.parameter_defaults()["DownloadMaxAttempts"]) == Settings().download_max_attempts


def test_template_list_parameter_defaults_parse_like_the_code_defaults(template: Template) -> None:
    defaults = template.parameter_defaults()
    settings = _from_environment({"DOWNLOAD_RETRY_DELAYS_SECONDS": defaults["DownloadRetryDelays"]})
    assert settings.download_retry_delays_seconds == Settings().download_retry_delays_seconds
    hosts = _from_environment(
        {"DOWNLOAD_ALLOWED_HOSTS": defaults["DownloadAllowedHosts"]}
    ).download_allowed_hosts
    assert hosts == Settings().download_allowed_hosts == ["videos.magichour.ai"]


def test_every_environment_variable_is_a_settings_field(template: Template) -> None:
    fields = {name.upper() for name in Settings.model_fields}
    for function in template.functions().values():
        for variable in function.environment:
            if variable.startswith(("POWERTOOLS_", "PYDANTIC_")):  # read by those libraries
                continue
            assert variable in fields, f"{function.logical_id}: {variable} is read by no setting"


def test_output_bucket_blocks_public_access(document: dict[str, Any]) -> None:
    block = resource(document, "OutputBucket")["PublicAccessBlockConfiguration"]
    assert block == {
        "BlockPublicAcls": True,
        "BlockPublicPolicy": True,
        "IgnorePublicAcls": True,
        "RestrictPublicBuckets": True,
    }


def test_output_bucket_aborts_incomplete_multipart_uploads(document: dict[str, Any]) -> None:
    rules = resource(document, "OutputBucket")["LifecycleConfiguration"]["Rules"]
    aborting = [rule for rule in rules if "AbortIncompleteMultipartUpload" in rule]
    assert aborting
    assert aborting[0]["Status"] == "Enabled"
    assert int(aborting[0]["AbortIncompleteMultipartUpload"]["DaysAfterInitiation"]) >= 1


@pytest.mark.parametrize(("table", "ttl_attribute"), [("JobsTable", "expires_at_epoch")])
def test_tables_are_on_demand_with_ttl_and_point_in_time_recovery(
    document: dict[str, Any], table: str, ttl_attribute: str
) -> None:
    properties = resource(document, table)
    assert properties["BillingMode"] == "PAY_PER_REQUEST"
    assert properties["TimeToLiveSpecification"] == {"AttributeName": ttl_attribute, "Enabled": True}
    assert properties["PointInTimeRecoverySpecification"]["PointInTimeRecoveryEnabled"] is True


def test_every_table_in_the_template_is_on_demand_with_ttl_and_pitr(template: Template) -> None:
    tables = template.of_type("AWS::DynamoDB::Table")
    assert set(tables) == {"JobsTable", "ClientsTable", "CallbackLanesTable"}
    for name, spec in tables.items():
        properties = spec["Properties"]
        assert properties["BillingMode"] == "PAY_PER_REQUEST", name
        assert properties["TimeToLiveSpecification"]["Enabled"] is True, name
        assert properties["PointInTimeRecoverySpecification"]["PointInTimeRecoveryEnabled"] is True, name


def test_input_bucket_is_private_encrypted_tls_only_and_expires_uploads(document: dict[str, Any]) -> None:
    properties = resource(document, "InputBucket")
    assert all(properties["PublicAccessBlockConfiguration"].values())
    (encryption,) = properties["BucketEncryption"]["ServerSideEncryptionConfiguration"]
    assert encryption["ServerSideEncryptionByDefault"]["SSEAlgorithm"] in ("AES256", "aws:kms")
    expiring = [rule for rule in properties["LifecycleConfiguration"]["Rules"] if "ExpirationInDays" in rule]
    assert expiring == [
        {
            "Id": "ExpireUploads",
            "Status": "Enabled",
            "Prefix": "uploads/",
            "ExpirationInDays": {"Ref": "InputUploadExpiryDays"},
        }
    ]
    (statement,) = resource(document, "InputBucketPolicy")["PolicyDocument"]["Statement"]
    assert statement["Effect"] == "Deny"
    assert statement["Condition"] == {"Bool": {"aws:SecureTransport": "false"}}
    assert {"Fn::Sub": "${InputBucket.Arn}/*"} in statement["Resource"]


@pytest.mark.parametrize("function", ["SubmitFunction", "DispatchFunction"])
@pytest.mark.parametrize("buckets", ["", "media-in,partner.assets"])
def test_allowed_input_buckets_become_one_object_arn_each(
    document: dict[str, Any], function: str, buckets: str
) -> None:
    """Each function that creates Magic Hour projects presigns s3:// inputs with its own role: its
    uploads in the input bucket, and (only when InputBucketNames lists some) GetObject on each
    allowed bucket's objects, resolved the way CloudFormation would."""
    from local import iam

    template = Template(document)
    attributes = {(name, "Arn"): f"arn:aws:s3:::{name.lower()}" for name in template.resources}
    attributes.update({(name, "QueueName"): name for name in template.resources})
    attributes[("JobsTable", "StreamArn")] = "arn:aws:dynamodb:us-east-1:1:table/jobs/stream/1"
    attributes[("ClientsTable", "StreamArn")] = "arn:aws:dynamodb:us-east-1:1:table/clients/stream/1"
    resolver = Resolver(
        {**template.parameter_defaults(), "InputBucketNames": buckets},
        {name: f"ref-{name}" for name in template.resources},
        attributes,
        {"AWS::Region": "us-east-1", "AWS::AccountId": "123456789012", "AWS::Partition": "aws"},
        document.get("Conditions", {}),
    )
    policy = iam.function_policies(document, resolver, "us-east-1")[function]
    assert policy.allows("s3:GetObject", "arn:aws:s3:::inputbucket/uploads/client/x.png")
    for name in ("media-in", "partner.assets"):
        assert policy.allows("s3:GetObject", f"arn:aws:s3:::{name}/in/x.mp4") is bool(buckets)
    assert not policy.allows("s3:GetObject", "arn:aws:s3:::other-bucket/in/x.mp4")
