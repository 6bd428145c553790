"""The local stream event source mapping (local/stream_trigger.py) against a real moto stream: what
Lambda's mapping promises, checkpoint only past what the function handled. The function here is a
scripted stand-in that records what it was handed; everything else is the real stream and queue."""

from __future__ import annotations

import json
import threading
from collections.abc import Callable
from dataclasses import replace
from typing import Any

import pytest
from conftest import STORE_STACK

from local.environment import Invocation
from local.resources import client
from local.stream_trigger import StreamPoller, StreamTrigger, stream_triggers
from local.template import Template, load_template
from tests.polling import poll

Answer = Callable[[list[str]], Invocation]


def ok(_: list[str]) -> Invocation:
    return Invocation(True, {"batchItemFailures": []}, None, 1.0)


def crash(_: list[str]) -> Invocation:
    return Invocation(False, None, "worker process crashed", 1.0)


class Function:
    """Answers each delivery with the next scripted answer (then `ok`), and keeps the job ids of
    every delivery."""

    def __init__(self, *answers: Answer) -> None:
        self.answers = list(answers)
        self.deliveries: list[list[str]] = []
        self.lock = threading.Lock()

    def __call__(self, _function: str, event: dict[str, Any]) -> Invocation:
        job_ids = [record["dynamodb"]["Keys"]["job_id"]["S"] for record in event["Records"]]
        assert all(record["eventSource"] == "aws:dynamodb" for record in event["Records"])
        with self.lock:
            self.deliveries.append(job_ids)
            answer = self.answers.pop(0) if self.answers else ok
        return answer(job_ids)

    def handled(self) -> list[str]:
        """Job ids in the order the function last saw each, over every delivery."""
        seen: list[str] = []
        for delivery in self.deliveries:
            seen.extend(job_id for job_id in delivery if job_id not in seen)
        return seen


@pytest.fixture(scope="module")
def trigger() -> StreamTrigger:
    triggers = {found.table: found for found in stream_triggers(Template(load_template()))}
    # Both tables' streams feed the events function, with the same settings.
    assert set(triggers) == {"JobsTable", "ClientsTable"}
    found = triggers["JobsTable"]
    assert found.function == triggers["ClientsTable"].function == "EventsFunction"
    assert triggers["ClientsTable"] == StreamTrigger(**{**vars(found), "table": "ClientsTable"})
    assert found.bisect
    assert found.report_batch_item_failures
    assert found.on_failure == "EventsFailureQueue"
    return found


@pytest.fixture
def aws(moto_endpoint: str) -> Callable[[str], Any]:
    return lambda service: client(service, moto_endpoint, "us-east-1")


def _stream_arn(aws: Callable[[str], Any]) -> str:
    return str(
        aws("dynamodb").describe_table(TableName=f"{STORE_STACK}-JobsTable")["Table"]["LatestStreamArn"]
    )


def _write(aws: Callable[[str], Any], job_ids: list[str]) -> None:
    for job_id in job_ids:
        aws("dynamodb").put_item(
            TableName=f"{STORE_STACK}-JobsTable", Item={"job_id": {"S": job_id}, "status": {"S": "queued"}}
        )


def _poller(aws: Callable[[str], Any], trigger: StreamTrigger, function: Function) -> StreamPoller:
    sqs = aws("sqs")
    queue = sqs.get_queue_url(QueueName=f"{STORE_STACK}-EventsFailureQueue")["QueueUrl"]
    poller = StreamPoller(
        trigger, aws("dynamodbstreams"), _stream_arn(aws), "us-east-1", function, sqs, queue
    )
    # Start past what earlier tests of the module wrote.
    records = _all_records(aws)
    if records:
        poller.start_after(records[-1]["dynamodb"]["SequenceNumber"])
    return poller


def _all_records(aws: Callable[[str], Any]) -> list[dict[str, Any]]:
    streams = aws("dynamodbstreams")
    arn = _stream_arn(aws)
    (shard,) = streams.describe_stream(StreamArn=arn)["StreamDescription"]["Shards"]
    iterator = streams.get_shard_iterator(
        StreamArn=arn, ShardId=shard["ShardId"], ShardIteratorType="TRIM_HORIZON"
    )
    return list(streams.get_records(ShardIterator=iterator["ShardIterator"], Limit=1000)["Records"])


def _run(poller: StreamPoller, condition: Callable[[], Any], what: str) -> None:
    poller.start()
    try:
        poll(condition, 20, what)
    finally:
        poller.stop(wait_seconds=5)


def test_a_crashed_delivery_comes_again_halved_and_nothing_is_skipped(
    aws: Callable[[str], Any], trigger: StreamTrigger
) -> None:
    function = Function(crash)
    poller = _poller(aws, trigger, function)
    jobs = [f"crash-{i}" for i in range(4)]
    _write(aws, jobs)
    _run(
        poller, lambda: function.handled() == jobs and poller.counters.delivered >= 2, "every record handled"
    )
    assert function.deliveries[0] == jobs
    # Bisected: the same first record again, with half the batch.
    assert function.deliveries[1] == jobs[:2]
    assert poller.counters.failed == 1


def test_a_reported_failure_comes_again_from_that_record(
    aws: Callable[[str], Any], trigger: StreamTrigger
) -> None:
    def fail_second(job_ids: list[str]) -> Invocation:
        sequence = poller_records[job_ids[1]]
        return Invocation(True, {"batchItemFailures": [{"itemIdentifier": sequence}]}, None, 1.0)

    function = Function(fail_second)
    poller = _poller(aws, trigger, function)
    jobs = [f"partial-{i}" for i in range(3)]
    _write(aws, jobs)
    poller_records = {
        r["dynamodb"]["Keys"]["job_id"]["S"]: r["dynamodb"]["SequenceNumber"] for r in _all_records(aws)
    }
    _run(poller, lambda: len(function.deliveries) >= 2, "a second delivery")
    assert function.deliveries[:2] == [jobs, jobs[1:]]


def test_an_identifier_not_in_the_batch_fails_the_whole_batch(
    aws: Callable[[str], Any], trigger: StreamTrigger
) -> None:
    function = Function(
        lambda _: Invocation(True, {"batchItemFailures": [{"itemIdentifier": "nope"}]}, None, 1.0)
    )
    poller = _poller(aws, replace(trigger, bisect=False), function)
    jobs = [f"unknown-{i}" for i in range(2)]
    _write(aws, jobs)
    _run(poller, lambda: len(function.deliveries) >= 2, "a second delivery")
    assert function.deliveries[:2] == [jobs, jobs]


def test_a_batch_failing_past_its_retries_goes_to_the_on_failure_queue(
    aws: Callable[[str], Any], trigger: StreamTrigger
) -> None:
    function = Function(crash, crash, crash)
    poller = _poller(aws, replace(trigger, max_retries=2, bisect=False), function)
    jobs = ["doomed-0", "after-0"]
    _write(aws, jobs[:1])
    sqs = aws("sqs")
    queue = sqs.get_queue_url(QueueName=f"{STORE_STACK}-EventsFailureQueue")["QueueUrl"]

    def received() -> list[dict[str, Any]]:
        return list(sqs.receive_message(QueueUrl=queue, MaxNumberOfMessages=10).get("Messages", []))

    poller.start()
    try:
        (message,) = poll(received, 20, "the on-failure record")
        _write(aws, jobs[1:])
        poll(lambda: "after-0" in function.handled(), 20, "the records after the skipped batch")
    finally:
        poller.stop(wait_seconds=5)
    record = json.loads(message["Body"])
    assert record["requestContext"]["condition"] == "RetryAttemptsExhausted"
    info = record["DDBStreamBatchInfo"]
    assert info["batchSize"] == 1
    assert info["streamArn"] == _stream_arn(aws)
    assert function.deliveries[:3] == [["doomed-0"]] * 3
    assert poller.counters.skipped_records == 1
