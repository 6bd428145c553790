"""What the people running it rely on, as template.yaml declares it: every alarm notifies someone,
every function logs into a group that expires, concurrency is bounded, and the alarms and the
dashboard name only metrics the code publishes (the catalogue in pipeline.platform.observability)."""

from __future__ import annotations

import json
import re
from typing import Any

import pytest

from local.template import Resolver, Template, load_template
from pipeline.platform import observability


@pytest.fixture(scope="module")
def template() -> Template:
    return Template(load_template())


def props(template: Template, name: str) -> dict[str, Any]:
    properties: dict[str, Any] = template.resources[name]["Properties"]
    return properties


def test_every_alarm_notifies_the_alarm_topic(template: Template) -> None:
    alarms = template.of_type("AWS::CloudWatch::Alarm")
    assert len(alarms) >= 19
    for name, spec in alarms.items():
        assert spec["Properties"]["AlarmActions"] == [{"Ref": "AlarmTopic"}], name
        assert spec["Properties"]["TreatMissingData"] == "notBreaching", name
    subscription = props(template, "AlarmEmailSubscription")
    assert template.resources["AlarmEmailSubscription"]["Condition"] == "HasAlarmEmail"
    assert subscription["Endpoint"] == {"Ref": "AlarmEmail"}


def test_errors_and_throttles_of_every_function_raise_alarms(template: Template) -> None:
    watched: dict[str, set[str]] = {}
    for spec in template.of_type("AWS::CloudWatch::Alarm").values():
        p = spec["Properties"]
        if p.get("Namespace") == "AWS/Lambda":
            (dimension,) = p["Dimensions"]
            watched.setdefault(dimension["Value"]["Ref"], set()).add(p["MetricName"])
    # A function fed by a stream also has its lag watched: records wait there, not in a queue.
    streamed = {
        name
        for name, spec in template.of_type("AWS::Serverless::Function").items()
        if any(e.get("Type") == "DynamoDB" for e in spec["Properties"].get("Events", {}).values())
    }
    assert streamed == {"EventsFunction"}
    assert watched == {
        name: {"Errors", "Throttles"} | ({"IteratorAge"} if name in streamed else set())
        for name in template.functions()
    }


@pytest.mark.parametrize(
    ("metric", "dimension"),
    [
        ("ApproximateNumberOfMessagesVisible", "DownloadDeadLetterQueue"),
        ("ApproximateNumberOfMessagesVisible", "CallbackDeadLetterQueue"),
        ("ApproximateAgeOfOldestMessage", "DownloadQueue"),
        ("ApproximateAgeOfOldestMessage", "CallbackQueue"),
    ],
)
def test_queues_raise_alarms(template: Template, metric: str, dimension: str) -> None:
    found = [
        spec["Properties"]
        for spec in template.of_type("AWS::CloudWatch::Alarm").values()
        if spec["Properties"]["MetricName"] == metric
        and spec["Properties"]["Dimensions"][0]["Value"] == {"Fn::GetAtt": [dimension, "QueueName"]}
    ]
    assert len(found) == 1


def test_pipeline_alarms_watch_catalogued_metrics_with_their_dimensions(template: Template) -> None:
    catalogue = {metric.name: metric for metric in observability.CATALOGUE}
    watched = set()
    for spec in template.of_type("AWS::CloudWatch::Alarm").values():
        p = spec["Properties"]
        if p["Namespace"] != "MagicHourPipeline":
            continue
        metric = catalogue[p["MetricName"]]
        names = [d["Name"] for d in p.get("Dimensions", [])]
        # An alarm's dimensions must be one of the sets each value is published with.
        assert names in observability.dimension_sets(metric), p["MetricName"]
        watched.add((p["MetricName"], tuple(d["Value"] for d in p.get("Dimensions", []))))
    assert watched == {
        ("SweepChecks", ("gave_up",)),
        ("CreditsCharged", ("failed",)),
        ("MagicHourCreates", ("auth_failed",)),
        ("MagicHourCredits", ()),
        ("Webhooks", ("signature_rejected",)),
        ("SweepOldestOverdue", ()),
    }


def test_every_function_logs_into_its_own_expiring_log_group(template: Template) -> None:
    for name in template.functions():
        group = props(template, name)["LoggingConfig"]["LogGroup"]["Ref"]
        assert template.resources[group]["Type"] == "AWS::Logs::LogGroup"
        assert props(template, group)["RetentionInDays"] == {"Ref": "LogRetentionDays"}
    assert props(template, "ApiAccessLogGroup")["RetentionInDays"] == {"Ref": "LogRetentionDays"}


def test_api_access_log_has_its_own_group_and_no_secrets(template: Template) -> None:
    setting = props(template, "Api")["AccessLogSetting"]
    assert setting["DestinationArn"] == {"Fn::GetAtt": ["ApiAccessLogGroup", "Arn"]}
    line = json.loads(setting["Format"])
    assert line["clientId"] == "$context.identity.apiKeyId"
    assert "$context.identity.apiKey" not in setting["Format"].replace("apiKeyId", "")
    assert template.resources["Api"]["DependsOn"] == "ApiGatewayAccount"


def test_concurrency_is_bounded(template: Template) -> None:
    assert props(template, "WebhookFunction")["ReservedConcurrentExecutions"]["Fn::If"][0] == (
        "ReservesWebhookConcurrency"
    )
    assert props(template, "SubmitFunction")["ReservedConcurrentExecutions"]["Fn::If"][0] == (
        "CapsSubmitConcurrency"
    )
    # The reads' concurrency is their own: creates that fill the submit function cannot take it.
    assert props(template, "QueryFunction")["ReservedConcurrentExecutions"] == {
        "Fn::If": ["ReservesQueryConcurrency", {"Ref": "QueryMaxConcurrency"}, {"Ref": "AWS::NoValue"}]
    }
    for name, spec in template.of_type("AWS::Serverless::Function").items():
        for event in spec["Properties"].get("Events", {}).values():
            if event["Type"] == "SQS":
                assert event["Properties"]["ScalingConfig"]["MaximumConcurrency"] >= 2, name


def _dashboard(template: Template) -> dict[str, Any]:
    refs = {name: f"{name}-physical" for name in template.resources}
    attributes = {
        (name, attr): f"{name}-{attr}" for name in template.resources for attr in ("QueueName", "Arn")
    }
    resolver = Resolver(
        template.parameter_defaults(), refs, attributes, {"AWS::Region": "us-east-1", "AWS::StackName": "s"}
    )
    body: dict[str, Any] = json.loads(resolver.resolve(props(template, "Dashboard")["DashboardBody"]))
    return body


def test_the_dashboard_shows_only_metrics_the_code_publishes(template: Template) -> None:
    catalogue = {metric.name: metric for metric in observability.CATALOGUE}
    titles = []
    for widget in _dashboard(template)["widgets"]:
        titles.append(widget["properties"]["title"])
        for line in widget["properties"].get("metrics", []):
            namespace, name, *rest = [part for part in line if not isinstance(part, dict)]
            if namespace == "MagicHourPipeline":
                dimensions = rest[0::2]
                assert dimensions in observability.dimension_sets(catalogue[name]), (name, dimensions)
    for wanted in [
        "Jobs per minute",
        "Submit to completed",
        "create outcomes",
        "Webhook outcomes",
        "Downloads",
        "throughput",
        "Queue depth",
        "oldest message",
        "Lambda errors",
        "duration",
        "concurrency",
        "Credits",
        "Alarms",
    ]:
        assert any(wanted in title for title in titles), wanted


def test_the_dashboard_lists_every_alarm(template: Template) -> None:
    alarm_widget = next(w for w in _dashboard(template)["widgets"] if w["type"] == "alarm")
    listed = {arn.removesuffix("-Arn") for arn in alarm_widget["properties"]["alarms"]}
    assert listed == set(template.of_type("AWS::CloudWatch::Alarm"))


def test_metric_records_are_fixed_names_with_fixed_dimensions(capsys: pytest.CaptureFixture[str]) -> None:
    observability.emit(observability.JOBS_ENDED, status="completed", kind="audio")
    record = json.loads(capsys.readouterr().out)
    directive = record["_aws"]["CloudWatchMetrics"][0]
    assert directive["Metrics"] == [{"Name": "JobsEnded", "Unit": "Count"}]
    assert directive["Dimensions"] == [["status", "kind"], ["status"], []]
    assert "service" not in record
    assert record["JobsEnded"] == [1.0]
    with pytest.raises(ValueError, match="takes dimensions"):
        observability.emf_record(observability.JOBS_ENDED, 1, {"status": "completed"})


def test_no_metric_name_is_built_at_run_time() -> None:
    from pathlib import Path

    root = Path(__file__).resolve().parents[2]
    sources = [*root.glob("shared/pipeline/**/*.py"), *root.glob("functions/*/app.py")]
    offenders = [
        str(path.relative_to(root))
        for path in sources
        if re.search(r"add_metric\(|single_metric\(", path.read_text()) and path.name != "observability.py"
    ]
    assert offenders == []


def test_a_job_ending_publishes_its_count_duration_and_credits(capsys: pytest.CaptureFixture[str]) -> None:
    observability.job_ended("failed", "video", "2026-11-23T00:00:00.000Z", "2026-11-23T00:01:30.500Z", 40)
    records = {
        name: record
        for record in map(json.loads, capsys.readouterr().out.splitlines())
        for name in ("JobsEnded", "JobDuration", "CreditsCharged")
        if name in record
    }
    assert records["JobsEnded"]["status"] == "failed"
    assert records["JobsEnded"]["kind"] == "video"
    assert records["JobDuration"]["JobDuration"] == [90.5]
    assert records["JobDuration"]["_aws"]["CloudWatchMetrics"][0]["Metrics"][0]["Unit"] == "Seconds"
    assert records["CreditsCharged"]["CreditsCharged"] == [40.0]
    assert records["CreditsCharged"]["status"] == "failed"


def test_a_job_without_credits_publishes_no_credits(capsys: pytest.CaptureFixture[str]) -> None:
    observability.job_ended(
        "completed", "audio", "2026-11-23T00:00:00.000Z", "2026-11-23T00:00:01.000Z", None
    )
    assert "CreditsCharged" not in capsys.readouterr().out
