"""A callback whose client's lane is full waits without it being an attempt, and the retry
schedule counts on from where it was (functions/callback/app.py, pipeline.callbacks.lanes, with
fakes at the lane store, the job store and the queue)."""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import pytest
from aws_lambda_powertools.utilities.data_classes.sqs_event import SQSRecord

from pipeline.callbacks import callbacks, lanes
from pipeline.jobs.retry_policy import RetryLater
from pipeline.models.tasks import CallbackTask
from pipeline.store import callback_lanes, callback_queue
from pipeline.store import redelivery as redelivery
from tests.handlers import callback_app

ROOT = Path(__file__).resolve().parents[2]
RECORD = json.loads((ROOT / "events" / "callback-sqs-batch.json").read_text())["Records"][0]
JOB_ID = json.loads(RECORD["body"])["job_id"]


@pytest.fixture
def handler(monkeypatch: pytest.MonkeyPatch, override_env: Callable[[Mapping[str, str]], None]) -> Any:
    override_env({"POWERTOOLS_METRICS_NAMESPACE": "test"})
    return callback_app(monkeypatch)


class Lane:
    """The lane store: `cap` places, taken and given back."""

    def __init__(self, cap: int) -> None:
        self.cap = cap
        self.held: dict[int, str] = {}
        self.taken = 0

    def take(self, client_id: str, holder: str, cap: int, seconds: int) -> int | None:
        assert seconds > 60  # outlasts the callback function's 60 s timeout
        free = next((place for place in range(self.cap) if place not in self.held), None)
        if free is not None:
            self.held[free] = holder
            self.taken += 1
        return free

    def give_back(self, client_id: str, place: int, holder: str) -> None:
        assert self.held.pop(place) == holder


@pytest.fixture
def world(monkeypatch: pytest.MonkeyPatch, handler: Any) -> dict[str, Any]:
    calls: list[tuple[str, ...]] = []
    sent: list[tuple[CallbackTask, int]] = []
    lane = Lane(cap=1)
    monkeypatch.setattr(callback_lanes, "take", lane.take)
    monkeypatch.setattr(callback_lanes, "give_back", lane.give_back)
    monkeypatch.setattr(
        callback_queue, "send_callback_task", lambda task, delay_seconds=0: sent.append((task, delay_seconds))
    )
    monkeypatch.setattr(
        callbacks.job_store,
        "record_callback_attempt",
        lambda job_id, state, error, keeping: calls.append(("attempt", state, str(error))),
    )
    monkeypatch.setattr(
        redelivery, "delay_next_attempt", lambda arn, receipt, delay: calls.append(("delay",))
    )
    monkeypatch.setattr(redelivery, "dead_letter", lambda *args: calls.append(("dead_letter",)))
    return {"calls": calls, "sent": sent, "lane": lane}


def _record(receive_count: int, **task: Any) -> SQSRecord:
    body = {**json.loads(RECORD["body"]), **task}
    attributes = {**RECORD["attributes"], "ApproximateReceiveCount": str(receive_count)}
    return SQSRecord({**RECORD, "body": json.dumps(body), "attributes": attributes})


def _in_lane(outcome: BaseException | None) -> Any:
    """A `deliver` that, like the real one, makes its attempt inside the client's lane."""

    def deliver(task: CallbackTask) -> None:
        with lanes.place_in_lane("client-noisy"):
            if outcome is not None:
                raise outcome

    return deliver


def test_a_callback_over_its_clients_lane_waits_and_is_not_an_attempt(handler, world, monkeypatch) -> None:
    world["lane"].held[0] = "another attempt of the same client"
    monkeypatch.setattr(callbacks, "deliver", _in_lane(None))
    handler.handle_record(_record(3, prior_attempts=2))  # no RetryLater: this message is done
    assert world["calls"] == []  # nothing recorded on the job, no retry delay set
    ((again, delay),) = world["sent"]
    # Attempts 1..4 happened (2 by earlier copies, 2 by this one's first receives); the 5th is next.
    assert again.prior_attempts == 4
    assert again.client_id == "client-noisy"
    assert (again.job_id, again.webhook_id) == (JOB_ID, json.loads(RECORD["body"])["webhook_id"])
    wait = handler.settings.callback_lane_wait_seconds
    assert 1 <= delay <= round(wait * 1.5)


def test_an_attempt_gives_its_place_back_whatever_happens(handler, world, monkeypatch) -> None:
    monkeypatch.setattr(
        callbacks, "deliver", _in_lane(callbacks.CallbackFailed("callback URL answered HTTP 500"))
    )
    with pytest.raises(RetryLater):
        handler.handle_record(_record(1))
    assert world["lane"].held == {}
    assert world["lane"].taken == 1
    assert world["sent"] == []


def test_the_retry_schedule_counts_the_attempts_of_earlier_copies(handler, world, monkeypatch) -> None:
    monkeypatch.setattr(callbacks, "deliver", _in_lane(callbacks.CallbackFailed("no HTTP answer")))
    last = len(handler.settings.callback_retry_delays_seconds) + 1
    # The first receive of a copy whose earlier copies made every attempt but one: it is the last.
    handler.handle_record(_record(1, prior_attempts=last - 1))
    assert world["calls"] == [("attempt", "failed", "no HTTP answer"), ("dead_letter",)]
    world["calls"].clear()
    with pytest.raises(RetryLater):
        handler.handle_record(_record(1, prior_attempts=last - 2))
    assert world["calls"][0] == ("attempt", "pending", "no HTTP answer")
