"""The one retry policy (pipeline.jobs.retry_policy) and the SQS side both handlers share, with a
fake retry queue at the seam (pipeline.store.redelivery)."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from aws_lambda_powertools.utilities.data_classes.sqs_event import SQSRecord

from pipeline.jobs import retry_policy
from pipeline.jobs.retry_policy import FailedAttempts, GiveUp, Retry, RetryLater, RetryPolicy
from pipeline.platform.observability import DOWNLOADS
from pipeline.store import redelivery as redelivery
from pipeline.store.redelivery import MAX_VISIBILITY_TIMEOUT_SECONDS

ROOT = Path(__file__).resolve().parents[2]
RECORD = json.loads((ROOT / "events" / "downloader-sqs-batch.json").read_text())["Records"][0]
DLQ = "https://sqs.us-east-1.amazonaws.com/123456789012/dlq"

# Three delays, six attempts: the last delay repeats for attempts 3, 4 and 5.
SHORT = RetryPolicy((10, 30, 120), 6)


@pytest.mark.parametrize(
    ("attempt", "decision"),
    [
        (1, Retry(10)),  # the first attempt: the first delay
        (2, Retry(30)),
        (3, Retry(120)),  # the last delay ...
        (4, Retry(120)),  # ... repeats: fewer delays than attempts
        (5, Retry(120)),  # the last retry
        (6, GiveUp()),  # the first give-up: attempt max_attempts is the last
        (7, GiveUp()),  # a message received again after giving up (a lost delete) gives up again
        (0, Retry(10)),  # a missing or odd receive count is a first attempt, never a give-up
    ],
)
def test_decisions_at_every_boundary(attempt: int, decision: Retry | GiveUp) -> None:
    assert SHORT.decide(attempt) == decision


def test_a_schedule_makes_one_attempt_more_than_its_delays() -> None:
    policy = RetryPolicy.schedule([30, 120, 600])
    assert policy.max_attempts == 4
    assert [policy.decide(attempt) for attempt in (1, 2, 3, 4)] == [
        Retry(30),
        Retry(120),
        Retry(600),
        GiveUp(),
    ]


def test_one_attempt_gives_up_at_once() -> None:
    assert RetryPolicy((), 1).decide(1) == GiveUp()
    assert RetryPolicy.schedule([]).decide(1) == GiveUp()


def test_more_delays_than_retries_leave_the_extra_ones_unused() -> None:
    policy = RetryPolicy((1, 2, 3, 4), 3)
    assert [policy.decide(attempt) for attempt in (1, 2, 3)] == [Retry(1), Retry(2), GiveUp()]


def test_total_delay_counts_each_wait_between_the_first_and_the_last_attempt() -> None:
    assert SHORT.total_delay_seconds() == 10 + 30 + 120 + 120 + 120
    assert RetryPolicy.schedule([5, 7]).total_delay_seconds() == 12


@pytest.mark.parametrize(
    ("delays", "attempts", "complaint"),
    [
        ((10, MAX_VISIBILITY_TIMEOUT_SECONDS + 1), 3, "43200"),  # SQS cannot hold it: refused, not clipped
        ((-1,), 2, "0 to 43200"),
        ((), 2, "at least one delay"),
        ((10,), 0, "at least 1"),
    ],
)
def test_a_policy_sqs_cannot_follow_is_refused(
    delays: tuple[int, ...], attempts: int, complaint: str
) -> None:
    with pytest.raises(ValueError, match=complaint):
        RetryPolicy(delays, attempts)


def test_the_longest_delay_sqs_allows_is_kept_whole() -> None:
    assert RetryPolicy((MAX_VISIBILITY_TIMEOUT_SECONDS,), 2).decide(1) == Retry(43200)


# -- the queue side -----------------------------------------------------------------------------


@dataclass
class FakeSqs:
    visibility: list[dict[str, Any]] = field(default_factory=list)
    fail: bool = False

    def get_queue_url(self, **kwargs: Any) -> dict[str, str]:
        return {"QueueUrl": "https://sqs.example/queue"}

    def change_message_visibility(self, **kwargs: Any) -> None:
        if self.fail:
            raise ConnectionError("SQS unreachable")
        self.visibility.append(kwargs)


def test_the_queue_sets_the_delay_unclipped_and_refuses_one_sqs_cannot_hold(monkeypatch) -> None:
    sqs = FakeSqs()
    monkeypatch.setattr(redelivery, "sqs_client", lambda: sqs)
    redelivery.queue_url_from_arn.cache_clear()
    redelivery.delay_next_attempt("arn:aws:sqs:us-east-1:123456789012:q", "r", MAX_VISIBILITY_TIMEOUT_SECONDS)
    assert sqs.visibility[-1]["VisibilityTimeout"] == 43200
    with pytest.raises(ValueError, match="43200"):
        redelivery.delay_next_attempt("arn:aws:sqs:us-east-1:123456789012:q", "r", 43201)
    assert len(sqs.visibility) == 1  # nothing was sent for the refused delay
    redelivery.queue_url_from_arn.cache_clear()


@dataclass
class FakeRetryQueue:
    """pipeline.store.redelivery as the shared routine sees it."""

    delays: list[tuple[str, str, int]] = field(default_factory=list)
    dead: list[tuple[str, str, str]] = field(default_factory=list)
    steps: list[tuple[Any, ...]] = field(default_factory=list)  # dead letters, in order with give-ups
    fail_delay: bool = False

    def delay_next_attempt(self, arn: str, receipt: str, delay: int) -> None:
        if self.fail_delay:
            raise ConnectionError("SQS unreachable")
        self.delays.append((arn, receipt, delay))

    def dead_letter(self, url: str, body: str, reason: str) -> None:
        self.dead.append((url, body, reason))
        self.steps.append(("dead_letter", url, body, reason))


@pytest.fixture
def queue(monkeypatch: pytest.MonkeyPatch) -> FakeRetryQueue:
    fake = FakeRetryQueue()
    monkeypatch.setattr(redelivery, "delay_next_attempt", fake.delay_next_attempt)
    monkeypatch.setattr(redelivery, "dead_letter", fake.dead_letter)
    return fake


@pytest.fixture
def outcomes(monkeypatch: pytest.MonkeyPatch) -> list[tuple[str, str]]:
    seen: list[tuple[str, str]] = []
    monkeypatch.setattr(
        retry_policy, "emit", lambda metric, **dims: seen.append((metric.name, dims["outcome"]))
    )
    return seen


def record(attempt: int | None) -> SQSRecord:
    attributes = {**RECORD["attributes"]}
    if attempt is None:
        del attributes["ApproximateReceiveCount"]
    else:
        attributes["ApproximateReceiveCount"] = str(attempt)
    return SQSRecord({**RECORD, "attributes": attributes})


FAILED = FailedAttempts(policy=SHORT, work="download", metric=DOWNLOADS, dead_letter_queue_url=lambda: DLQ)


def test_a_retry_sets_the_delay_fails_the_record_and_gives_nothing_up(queue, outcomes) -> None:
    given_up: list[Any] = []
    noted: list[str] = []
    with pytest.raises(RetryLater, match="boom"):
        FAILED.settle(record(4), "boom", give_up=lambda *a: given_up.append(a), on_retry=noted.append)
    assert queue.delays == [(RECORD["eventSourceARN"], RECORD["receiptHandle"], 120)]
    assert queue.dead == []
    assert given_up == []
    assert noted == ["boom"]
    assert outcomes == [("Downloads", "attempt_failed")]


def test_a_record_without_a_receive_count_is_a_first_attempt(queue, outcomes) -> None:
    with pytest.raises(RetryLater):
        FAILED.settle(record(None), "boom", give_up=lambda *a: None)
    assert queue.delays[0][2] == 10


def test_the_last_attempt_gives_up_then_dead_letters_with_the_reason(queue, outcomes) -> None:
    FAILED.settle(
        record(6), "boom", give_up=lambda attempt, reason: queue.steps.append(("give_up", attempt, reason))
    )
    assert queue.steps == [("give_up", 6, "boom"), ("dead_letter", DLQ, RECORD["body"], "boom")]
    assert queue.delays == []  # returned normally: the record is deleted, not retried
    assert outcomes == [("Downloads", "attempt_failed"), ("Downloads", "dead_lettered")]


def test_a_give_up_that_fails_leaves_the_message_to_the_redrive(queue, outcomes) -> None:
    def broken(attempt: int, reason: str) -> None:
        raise RuntimeError("DynamoDB unreachable")

    with pytest.raises(RuntimeError):
        FAILED.settle(record(6), "boom", give_up=broken)
    assert queue.dead == []  # not dead-lettered twice: SQS moves it on its next receive


def test_a_failing_note_or_delay_still_retries(queue, outcomes) -> None:
    def broken_note(reason: str) -> None:
        raise RuntimeError("DynamoDB unreachable")

    queue.fail_delay = True
    with pytest.raises(RetryLater):
        FAILED.settle(record(1), "boom", give_up=lambda *a: None, on_retry=broken_note)
    assert queue.dead == []


def test_dead_letter_now_sends_the_reason_and_counts_it(queue, outcomes) -> None:
    FAILED.dead_letter(record(1), "not a download task")
    assert queue.dead == [(DLQ, RECORD["body"], "not a download task")]
    assert outcomes == [("Downloads", "dead_lettered")]
