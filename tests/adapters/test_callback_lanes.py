"""Each client's callback lane against a moto server (pipeline.store.callback_lanes): never more
holders than places, even when many attempts race for them; a place given back or run out is
free again; one client's full lane is not another's. And a callback message carries its client
as its fair-queue group (pipeline.store.callback_queue)."""

from __future__ import annotations

import threading
import time
import uuid
from collections.abc import Callable, Mapping
from typing import Any

import pytest

from pipeline.models.tasks import CallbackTask
from pipeline.platform.aws import sqs_client
from pipeline.store import callback_lanes, callback_queue

pytestmark = pytest.mark.usefixtures("pointed_at_moto")


def _client() -> str:
    return f"client-{uuid.uuid4().hex[:8]}"


def test_racing_attempts_never_hold_more_places_than_the_lane_has() -> None:
    client = _client()
    won: list[int] = []
    start = threading.Barrier(12)

    def attempt() -> None:
        start.wait()
        place = callback_lanes.take(client, uuid.uuid4().hex, cap=3, seconds=30)
        if place is not None:
            won.append(place)

    threads = [threading.Thread(target=attempt) for _ in range(12)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(won) == [0, 1, 2]
    assert callback_lanes.take(client, "late", cap=3, seconds=30) is None
    assert callback_lanes.take(_client(), "another client", cap=3, seconds=30) == 0


def test_a_place_given_back_or_run_out_is_free_again() -> None:
    client = _client()
    assert callback_lanes.take(client, "a", cap=1, seconds=30) == 0
    callback_lanes.give_back(client, 0, "someone else")  # not its holder: nothing changes
    assert callback_lanes.take(client, "b", cap=1, seconds=30) is None
    callback_lanes.give_back(client, 0, "a")
    assert callback_lanes.take(client, "b", cap=1, seconds=1) == 0
    # A crashed attempt never gives its place back: the hold runs out (whole seconds) instead.
    deadline = time.monotonic() + 5
    taken = None
    while taken is None and time.monotonic() < deadline:
        taken = callback_lanes.take(client, "c", cap=1, seconds=30)
        if taken is None:
            time.sleep(0.2)  # the hold's end is wall-clock time, not an event to wait for
    assert taken == 0


def test_a_callback_message_carries_its_client_as_its_fair_queue_group(
    moto_endpoint: str, override_env: Callable[[Mapping[str, str]], None]
) -> None:
    from conftest import STORE_STACK

    queue_url = sqs_client().get_queue_url(QueueName=f"{STORE_STACK}-CallbackQueue")["QueueUrl"]
    override_env({"CALLBACK_QUEUE_URL": queue_url})
    client = _client()
    callback_queue.send_callback_task(CallbackTask(job_id="job_x", webhook_id="msg_x", client_id=client))
    callback_queue.send_callback_task(CallbackTask(job_id="job_y", webhook_id="msg_y", client_id="bad id é"))
    groups: dict[str, Any] = {}
    deadline = time.monotonic() + 5
    while len(groups) < 2 and time.monotonic() < deadline:
        answer = sqs_client().receive_message(
            QueueUrl=queue_url, MaxNumberOfMessages=10, AttributeNames=["MessageGroupId"], WaitTimeSeconds=1
        )
        for message in answer.get("Messages", []):
            groups[CallbackTask.model_validate_json(message["Body"]).job_id] = message["Attributes"].get(
                "MessageGroupId"
            )
    assert groups["job_x"] == client
    assert groups["job_y"] == callback_queue.message_group("bad id é")
    assert len(groups["job_y"]) == 64
