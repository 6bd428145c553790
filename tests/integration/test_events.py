"""Job events on the stack's EventBridge bus, read as a consumer reads them: a rule on the bus
`magic-hour-pipeline` with an SQS queue as its target, on the local stack (CONTRACT §1 "Events")."""

from __future__ import annotations

import itertools
import json
import os
import signal
import threading
from datetime import timedelta
from typing import Any

import pytest
import requests
from boto3.dynamodb.types import TypeSerializer
from conftest import StackHandle
from jsonschema import Draft202012Validator

from pipeline.events.schema import event_schema
from pipeline.models.job import Job, JobStatus
from pipeline.platform import ids
from pipeline.platform.timeutil import iso, utc_now
from pipeline.store.job_items import to_item
from tests.polling import poll

BUS = "magic-hour-pipeline"
IMAGE = {"tool": "ai-image-generator", "input": {"image_count": 1, "style": {"prompt": "a quiet harbour"}}}
VALIDATOR = Draft202012Validator(event_schema("Job Status Changed"))


class Consumer:
    """A rule for every event of the pipeline, into a queue of the test's own; what arrived, by job."""

    def __init__(self, stack: StackHandle) -> None:
        from local.resources import client

        self.sqs = client("sqs", stack.aws, "us-east-1")
        events = client("events", stack.aws, "us-east-1")
        self.queue = self.sqs.create_queue(QueueName="events-consumer")["QueueUrl"]
        arn = self.sqs.get_queue_attributes(QueueUrl=self.queue, AttributeNames=["QueueArn"])["Attributes"][
            "QueueArn"
        ]
        events.put_rule(
            Name="every-job-event",
            EventBusName=BUS,
            EventPattern=json.dumps(
                {"source": ["magic-hour-pipeline"], "detail-type": ["Job Status Changed"]}
            ),
        )
        events.put_targets(Rule="every-job-event", EventBusName=BUS, Targets=[{"Id": "queue", "Arn": arn}])
        self.bodies: dict[str, list[str]] = {}
        self._lock = threading.Lock()

    def drain(self) -> None:
        with self._lock:
            while True:
                messages = self.sqs.receive_message(QueueUrl=self.queue, MaxNumberOfMessages=10).get(
                    "Messages", []
                )
                if not messages:
                    return
                for message in messages:
                    job_id = json.loads(message["Body"])["detail"]["job"]["job_id"]
                    self.bodies.setdefault(job_id, []).append(message["Body"])
                self.sqs.delete_message_batch(
                    QueueUrl=self.queue,
                    Entries=[
                        {"Id": str(i), "ReceiptHandle": m["ReceiptHandle"]} for i, m in enumerate(messages)
                    ],
                )

    def events_of(self, job_id: str) -> list[dict[str, Any]]:
        self.drain()
        return [json.loads(body) for body in self.bodies.get(job_id, [])]

    def wait_for(self, job_id: str, status: str, timeout: float = 30.0) -> list[dict[str, Any]]:
        def arrived() -> list[dict[str, Any]] | None:
            events = self.events_of(job_id)
            return events if any(e["detail"]["job"]["status"] == status for e in events) else None

        found: list[dict[str, Any]] = poll(arrived, timeout, f"a {status} event of {job_id}")
        return found


@pytest.fixture(scope="module")
def consumer(local_stack: StackHandle) -> Consumer:
    return Consumer(local_stack)


def _changes(events: list[dict[str, Any]]) -> list[tuple[str | None, str]]:
    """(previous_status, status) of each change, duplicates (same status and updated_at) once,
    in the order of the changes."""
    seen: dict[tuple[str, str], tuple[str | None, str]] = {}
    for event in events:
        job = event["detail"]["job"]
        seen.setdefault(
            (job["status"], job["updated_at"]), (event["detail"]["previous_status"], job["status"])
        )
    return [seen[key] for key in sorted(seen, key=lambda key: key[1])]


def _assert_clean(events: list[dict[str, Any]], client_id: str) -> None:
    for event in events:
        VALIDATOR.validate(event)
        assert event["source"] == "magic-hour-pipeline"
        assert event["detail-type"] == "Job Status Changed"
        assert event["detail"]["client_id"] == client_id
        text = json.dumps(event)
        assert "download_url" not in text
        assert "X-Amz-" not in text
        assert "Signature=" not in text


def _assert_a_chain(changes: list[tuple[str | None, str]], last: str) -> None:
    """The first status on accept (no previous), each next move from the one before, the ending last."""
    assert changes[0][0] is None
    for (_, before), (previous, _) in itertools.pairwise(changes):
        assert previous == before, changes
    assert changes[-1][1] == last


def test_a_completed_job_publishes_every_status_it_went_through(
    stack: StackHandle, consumer: Consumer
) -> None:
    answer = stack.post_job(IMAGE)
    assert answer.status_code in (201, 202), answer.text
    job_id = answer.json()["job_id"]
    stack.wait_for(job_id, {"completed"})
    events = consumer.wait_for(job_id, "completed")
    _assert_clean(events, "client-alpha")
    changes = _changes(events)
    _assert_a_chain(changes, "completed")
    assert [status for _, status in changes][-2:] == ["downloading", "completed"]
    final = next(e for e in events if e["detail"]["job"]["status"] == "completed")["detail"]["job"]
    (output,) = final["outputs"]
    assert output["s3_uri"].startswith("s3://")
    assert output["sha256"]
    assert output["size_bytes"] > 0


def test_a_failed_job_publishes_its_ending_with_the_error(stack: StackHandle, consumer: Consumer) -> None:
    stack.scenario(render_seconds=0.2, outcome="error")
    job_id = stack.post_job(IMAGE, key="key-beta").json()["job_id"]
    stack.wait_for(job_id, {"failed"}, key="key-beta")
    events = consumer.wait_for(job_id, "failed")
    _assert_clean(events, "client-beta")
    _assert_a_chain(_changes(events), "failed")
    final = next(e for e in events if e["detail"]["job"]["status"] == "failed")["detail"]["job"]
    assert final["error"]["source"] == "magic_hour"


def test_a_job_canceled_through_the_cancel_route_publishes_its_ending(
    stack: StackHandle, consumer: Consumer
) -> None:
    # Written `waiting` outside the fair queue (no fair_key), so no dispatcher takes it first.
    job_id = _write_job(stack, JobStatus.WAITING, project=False)
    answer = requests.post(
        f"{stack.api}/v1/jobs/{job_id}/cancel", headers=stack.headers("key-gamma"), timeout=10
    )
    assert answer.status_code == 202, answer.text
    events = consumer.wait_for(job_id, "canceled")
    _assert_clean(events, "client-gamma")
    assert _changes(events) == [(None, "waiting"), ("waiting", "canceled")]
    final = next(e for e in events if e["detail"]["job"]["status"] == "canceled")["detail"]["job"]
    assert (final["error"]["code"], final["error"]["source"]) == ("canceled_by_client", "submit")
    assert final["credits_charged"] in (0, None)


def _write_job(stack: StackHandle, status: JobStatus, project: bool = True) -> str:
    job_id = ids.new_job_id()
    now = iso(utc_now())
    job = Job(
        job_id=job_id,
        client_id="client-gamma",
        tool="ai-image-generator",
        kind="image",
        status=status,
        project_id=f"proj-{job_id}" if project else None,
        created_at=now,
        updated_at=now,
    )
    serializer = TypeSerializer()
    item = {key: serializer.serialize(value) for key, value in to_item(job).items()}
    _dynamodb(stack).put_item(TableName=stack.stack.resolver.refs["JobsTable"], Item=item)
    return job_id


def _jobs_poller(stack: StackHandle) -> Any:
    # The events function reads two streams (jobs and clients tables); these tests write jobs.
    (poller,) = (p for p in stack.stack.stream_pollers if p.trigger.table == "JobsTable")
    return poller


def _dynamodb(stack: StackHandle) -> Any:
    from local.resources import client

    return client("dynamodb", stack.aws, "us-east-1")


def test_a_change_is_published_though_its_writer_does_nothing_after_the_write(
    stack: StackHandle, consumer: Consumer
) -> None:
    # The writes a function makes, made here and nothing after them: as if the function died
    # right after its write. The events come from the table's stream, not from the writer.
    # (There is no cancel route yet, so this is also how a job reaches `canceled` here.)
    job_id = _write_job(stack, JobStatus.RENDERING)
    _dynamodb(stack).update_item(
        TableName=stack.stack.resolver.refs["JobsTable"],
        Key={"job_id": {"S": job_id}},
        UpdateExpression="SET #s = :canceled, updated_at = :now",
        ConditionExpression="#s = :rendering",
        ExpressionAttributeNames={"#s": "status"},
        ExpressionAttributeValues={
            ":canceled": {"S": "canceled"},
            ":rendering": {"S": "rendering"},
            ":now": {"S": iso(utc_now() + timedelta(seconds=1))},
        },
    )
    events = consumer.wait_for(job_id, "canceled")
    _assert_clean(events, "client-gamma")
    assert _changes(events) == [(None, "rendering"), ("rendering", "canceled")]


def test_an_event_survives_the_publishing_function_being_killed(
    stack: StackHandle, consumer: Consumer
) -> None:
    """The events function's environment is frozen, handed the records of a new write, and
    killed with them: the records are delivered again, and the event arrives."""
    pool = stack.stack.pools["EventsFunction"]
    poller = _jobs_poller(stack)
    environments = pool.pids()
    assert environments
    for pid in environments:
        os.kill(pid, signal.SIGSTOP)
    try:
        invoked, failed = poller.counters.invoked, poller.counters.failed
        job_id = _write_job(stack, JobStatus.QUEUED)
        poll(lambda: poller.counters.invoked > invoked, 10, "the frozen function to be handed the write")
        poll(lambda: pool.pids(busy=True), 10, "a frozen environment to hold the invocation")
    finally:
        for pid in environments:
            os.kill(pid, signal.SIGKILL)
    events = consumer.wait_for(job_id, "queued", timeout=60)
    assert poller.counters.failed > failed, "the killed delivery counts as failed"
    assert _changes(events) == [(None, "queued")]
    assert not set(environments) & set(pool.pids()), "a fresh environment published it"


def test_an_event_eventbridge_refused_is_published_when_it_recovers(
    stack: StackHandle, consumer: Consumer
) -> None:
    """PutEvents failing as AWS fails (HTTP 500), past the SDK's own retries: the function fails,
    the checkpoint stays, and the records come again until the event gets out."""
    assert stack.stack.faults is not None
    poller = _jobs_poller(stack)
    failed = poller.counters.failed
    # Two invocations' worth: each makes the SDK's five attempts (the first and four retries).
    stack.stack.faults.inject("PutEvents", count=10)
    job_id = _write_job(stack, JobStatus.RENDERING)
    events = consumer.wait_for(job_id, "rendering", timeout=60)
    assert poller.counters.failed >= failed + 2
    assert stack.stack.faults.state()["calls"]["PutEvents"] >= 11
    assert _changes(events) == [(None, "rendering")]


def test_the_bus_and_its_archive_come_from_the_template(stack: StackHandle) -> None:
    from local.resources import client

    events = client("events", stack.aws, "us-east-1")
    bus = events.describe_event_bus(Name=BUS)
    assert stack.stack.resolver.refs["EventBus"] == BUS
    assert "Policy" not in bus, "no subscriber accounts by default"
    (archive,) = events.list_archives()["Archives"]
    assert archive["EventSourceArn"] == bus["Arn"]
    assert archive["RetentionDays"] == 7


def test_subscriber_accounts_get_a_bus_policy_for_their_own_rules() -> None:
    from conftest import running_moto_server

    from local import resources
    from local.resources import client
    from local.template import Template, load_template

    template = Template(load_template())
    parameters = {
        **template.parameter_defaults(),
        "EventSubscriberAccountIds": "111122223333,444455556666",
        "EventArchiveRetentionDays": "0",
        "EventBusName": "pipeline-events",
    }
    secrets = {name: "unused" for name in template.of_type("AWS::SecretsManager::Secret")}
    with running_moto_server() as url:
        resources.create_all(template, url, "us-east-1", "policy-test", parameters, secrets)
        events = client("events", url, "us-east-1")
        (statement,) = json.loads(events.describe_event_bus(Name="pipeline-events")["Policy"])["Statement"]
        assert events.list_archives()["Archives"] == []
    # One principal per account of the comma-separated parameter, as CloudFormation passes a list.
    assert sorted(statement["Principal"]["AWS"]) == ["111122223333", "444455556666"]
    assert "events:PutRule" in statement["Action"]
    assert statement["Resource"].endswith(":rule/pipeline-events/*")
    assert (
        statement["Condition"]["StringEqualsIfExists"]["events:creatorAccount"] == "${aws:PrincipalAccount}"
    )
