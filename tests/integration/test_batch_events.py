"""`Batch Ended` on the stack's EventBridge bus, read as a consumer reads it: a rule on the bus
`magic-hour-pipeline` with an SQS queue as its target (CONTRACT §1 "Events"). On a stack of its
own with one Magic Hour slot, so a batch's later jobs wait and can be cancelled."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest
import requests
from conftest import StackHandle, start_stack
from jsonschema import Draft202012Validator

from pipeline.events.schema import event_schema
from tests.polling import poll

BUS = "magic-hour-pipeline"
VOICE = {"tool": "ai-voice-generator", "input": {"style": {"prompt": "hi", "voice_name": "Elon Musk"}}}
VALIDATOR = Draft202012Validator(event_schema("Batch Ended"))


class BatchConsumer:
    """A rule for the pipeline's `Batch Ended` events, into a queue of the test's own."""

    def __init__(self, stack: StackHandle) -> None:
        from local.resources import client

        self.sqs = client("sqs", stack.aws, "us-east-1")
        events = client("events", stack.aws, "us-east-1")
        self.queue = self.sqs.create_queue(QueueName="batch-events-consumer")["QueueUrl"]
        arn = self.sqs.get_queue_attributes(QueueUrl=self.queue, AttributeNames=["QueueArn"])["Attributes"][
            "QueueArn"
        ]
        events.put_rule(
            Name="every-batch-ending",
            EventBusName=BUS,
            EventPattern=json.dumps({"source": ["magic-hour-pipeline"], "detail-type": ["Batch Ended"]}),
        )
        events.put_targets(Rule="every-batch-ending", EventBusName=BUS, Targets=[{"Id": "queue", "Arn": arn}])
        self.events: list[dict[str, Any]] = []

    def of(self, batch_id: str) -> list[dict[str, Any]]:
        while messages := self.sqs.receive_message(QueueUrl=self.queue, MaxNumberOfMessages=10).get(
            "Messages"
        ):
            self.events.extend(json.loads(message["Body"]) for message in messages)
            self.sqs.delete_message_batch(
                QueueUrl=self.queue,
                Entries=[{"Id": str(i), "ReceiptHandle": m["ReceiptHandle"]} for i, m in enumerate(messages)],
            )
        return [event for event in self.events if event["detail"]["batch"]["batch_id"] == batch_id]

    def wait_for(self, batch_id: str, timeout: float = 60) -> dict[str, Any]:
        found: list[dict[str, Any]] = poll(lambda: self.of(batch_id), timeout, f"Batch Ended of {batch_id}")
        return found[0]


@pytest.fixture(scope="module")
def one_slot(tmp_path_factory: pytest.TempPathFactory) -> Iterator[StackHandle]:
    stack, handle = start_stack(
        tmp_path_factory, schedule_seconds=3600, parameters={"MagicHourMaxConcurrency": "1"}
    )
    try:
        yield handle
    finally:
        stack.stop()


@pytest.fixture(scope="module")
def consumer(one_slot: StackHandle) -> BatchConsumer:
    return BatchConsumer(one_slot)


@pytest.fixture
def stack(one_slot: StackHandle) -> StackHandle:
    requests.delete(f"{one_slot.magic_hour}/_sim/scenario", timeout=5).raise_for_status()
    return one_slot


def _post_batch(stack: StackHandle, n: int) -> str:
    jobs = [{"custom_id": f"row-{i}", **VOICE} for i in range(n)]
    posted = requests.post(
        f"{stack.api}/v1/batches",
        json={"jobs": jobs, "metadata": {"run": n}},
        headers=stack.headers(),
        timeout=30,
    )
    assert posted.status_code == 202, posted.text
    return str(posted.json()["batch_id"])


def _get(stack: StackHandle, batch_id: str) -> dict[str, Any]:
    answer: dict[str, Any] = requests.get(
        f"{stack.api}/v1/batches/{batch_id}", headers=stack.headers(), timeout=10
    ).json()
    return answer


def _assert_is_the_resource(event: dict[str, Any], resource: dict[str, Any]) -> None:
    assert event["source"] == "magic-hour-pipeline"
    assert event["detail-type"] == "Batch Ended"
    VALIDATOR.validate(event)
    assert event["detail"]["client_id"] == "client-alpha"
    assert "results_url" not in event["detail"]["batch"]
    assert event["detail"]["batch"] == {k: v for k, v in resource.items() if k != "results_url"}


def test_a_completed_batch_publishes_its_ending_once(stack: StackHandle, consumer: BatchConsumer) -> None:
    stack.scenario(render_seconds=0.2)
    batch_id = _post_batch(stack, 2)
    ended = poll(
        lambda: _get(stack, batch_id), 60, "the batch to complete", until=lambda b: b["status"] == "completed"
    )
    event = consumer.wait_for(batch_id)
    _assert_is_the_resource(event, ended)
    assert event["detail"]["batch"]["counts"]["completed"] == 2
    # Its running, its jobs' count moves: none of those is an ending.
    assert len(consumer.of(batch_id)) == 1


def test_a_canceled_batch_publishes_its_canceled_ending(stack: StackHandle, consumer: BatchConsumer) -> None:
    """One slot: the first job goes to Magic Hour, the others wait and are cancelled; the batch
    ends `canceled` with the first, and that ending is the event."""
    stack.scenario(render_seconds=2)
    batch_id = _post_batch(stack, 3)
    poll(lambda: _get(stack, batch_id)["counts"]["waiting"], 15, "two jobs waiting", until=lambda n: n == 2)
    answer = requests.post(f"{stack.api}/v1/batches/{batch_id}/cancel", headers=stack.headers(), timeout=30)
    assert answer.status_code == 202, answer.text
    assert not consumer.of(batch_id), "a batch still running has not ended"
    ended = poll(
        lambda: _get(stack, batch_id), 60, "the batch to end", until=lambda b: b["status"] != "running"
    )
    assert ended["status"] == "canceled"
    event = consumer.wait_for(batch_id)
    _assert_is_the_resource(event, ended)
    assert event["detail"]["batch"]["counts"]["canceled"] == 2
    assert event["detail"]["batch"]["ended_at"] is not None
