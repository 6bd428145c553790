"""The callbacks function counts every failed attempt, whatever failed, and tells the client only
plain text (functions/callback/app.py, with fakes at the job store and the queue)."""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import pytest
from aws_lambda_powertools.utilities.data_classes.sqs_event import SQSRecord

from pipeline.callbacks import callbacks
from pipeline.jobs.retry_policy import RetryLater
from pipeline.store import redelivery as redelivery
from tests.handlers import callback_app

ROOT = Path(__file__).resolve().parents[2]
RECORD = json.loads((ROOT / "events" / "callback-sqs-batch.json").read_text())["Records"][0]


@pytest.fixture
def handler(monkeypatch: pytest.MonkeyPatch, override_env: Callable[[Mapping[str, str]], None]) -> Any:
    override_env({"POWERTOOLS_METRICS_NAMESPACE": "test"})
    return callback_app(monkeypatch)


@pytest.fixture
def recorded(monkeypatch: pytest.MonkeyPatch, handler: Any) -> list[tuple[str, ...]]:
    calls: list[tuple[str, ...]] = []
    monkeypatch.setattr(
        callbacks.job_store,
        "record_callback_attempt",
        lambda job_id, state, error, keeping: calls.append(("attempt", job_id, state, str(error))),
    )
    monkeypatch.setattr(
        redelivery,
        "delay_next_attempt",
        lambda arn, receipt, delay: calls.append(("delay", str(delay))),
    )
    monkeypatch.setattr(redelivery, "dead_letter", lambda *args: calls.append(("dead_letter",)))
    return calls


def _record(receive_count: int) -> SQSRecord:
    return SQSRecord(
        {**RECORD, "attributes": {**RECORD["attributes"], "ApproximateReceiveCount": str(receive_count)}}
    )


def test_an_unexpected_error_is_an_attempt_with_a_plain_reason(handler, recorded, monkeypatch) -> None:
    def broken(task: Any) -> None:
        raise RuntimeError("AccessDenied: arn:aws:iam::123456789012:role/pipeline-CallbackRole")

    monkeypatch.setattr(callbacks, "deliver", broken)
    with pytest.raises(RetryLater):
        handler.handle_record(_record(1))
    job_id = json.loads(RECORD["body"])["job_id"]
    assert recorded[0] == ("attempt", job_id, "pending", callbacks.INTERNAL_ERROR)
    assert recorded[1][0] == "delay"
    assert "123456789012" not in json.dumps(recorded)


def test_a_timeout_is_an_attempt_and_the_last_one_gives_up(handler, recorded, monkeypatch) -> None:
    def slow(task: Any) -> None:
        raise callbacks.CallbackFailed("no answer within 5 s")

    monkeypatch.setattr(callbacks, "deliver", slow)
    with pytest.raises(RetryLater):
        handler.handle_record(_record(1))
    assert recorded[0][2:] == ("pending", "no answer within 5 s")
    recorded.clear()
    handler.handle_record(_record(len(handler.settings.callback_retry_delays_seconds) + 1))
    assert recorded[0][2:] == ("failed", "no answer within 5 s")
    assert recorded[1] == ("dead_letter",)
