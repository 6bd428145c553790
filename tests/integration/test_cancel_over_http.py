"""POST /v1/jobs/{job_id}/cancel through the local stack over HTTP (CONTRACT §1 "Cancelling a
job"), on a stack of its own with one Magic Hour slot, so a second job waits, and a budget for
client-gamma (400 credits), so a released reservation shows as room for the next job."""

from __future__ import annotations

import json
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest
import requests
from conftest import StackHandle, fresh_scenario, own_stack
from standardwebhooks.webhooks import Webhook

from tests.observe import CallbackReceiver
from tests.polling import poll

# 5 s of video at 30 credits a second: 150 credits a job, so two fit in 400 and three do not.
VIDEO = {"tool": "text-to-video", "input": {"end_seconds": 5, "style": {"prompt": "rain on a window"}}}
VOICE = {"tool": "ai-voice-generator", "input": {"style": {"prompt": "hi", "voice_name": "Elon Musk"}}}
CANCELED_BY_CLIENT = {"code": "canceled_by_client", "source": "submit"}


@pytest.fixture(scope="module")
def one_slot(tmp_path_factory: pytest.TempPathFactory) -> Iterator[StackHandle]:
    with own_stack(
        tmp_path_factory, parameters={"MagicHourMaxConcurrency": "1"}, budgets="client-gamma=400"
    ) as handle:
        yield handle


@pytest.fixture
def stack(one_slot: StackHandle) -> Iterator[StackHandle]:
    yield fresh_scenario(one_slot)
    requests.delete(f"{one_slot.magic_hour}/_sim/scenario", timeout=5)
    # Every test leaves the slot free for the next: whatever holds it runs to its end.
    for key in ("key-alpha", "key-gamma"):
        listed = requests.get(f"{one_slot.api}/v1/jobs?limit=100", headers=one_slot.headers(key), timeout=10)
        for job in listed.json()["jobs"]:
            if job["status"] not in ("completed", "failed", "canceled"):
                cancel(one_slot, job["job_id"], key)
                one_slot.wait_for(job["job_id"], {"completed", "failed", "canceled"}, timeout=60, key=key)


def cancel(stack: StackHandle, job_id: str, key: str = "key-alpha") -> requests.Response:
    return requests.post(f"{stack.api}/v1/jobs/{job_id}/cancel", headers=stack.headers(key), timeout=10)


def submit(
    stack: StackHandle, body: dict[str, Any], expect: str | None = None, key: str = "key-alpha"
) -> dict[str, Any]:
    answer = stack.post_job(body, key)
    assert answer.status_code == 202, answer.text
    job: dict[str, Any] = answer.json()
    if expect is not None:
        assert job["status"] == expect, job
    return job


def holding_the_slot(stack: StackHandle, render_seconds: float) -> dict[str, Any]:
    """A job Magic Hour is rendering, holding the only slot for `render_seconds`."""
    stack.scenario(render_seconds=render_seconds)
    first = submit(stack, VOICE)
    return stack.wait_for(first["job_id"], {"queued", "rendering"}, timeout=15)


def test_a_waiting_job_is_canceled_at_no_cost_and_never_created(stack: StackHandle) -> None:
    first = holding_the_slot(stack, render_seconds=2)
    second = submit(stack, VOICE, expect="waiting")
    creates = stack.sim_stats()["creates"]

    answer = cancel(stack, second["job_id"])
    assert answer.status_code == 202, answer.text
    canceled = answer.json()
    assert canceled["status"] == "canceled"
    assert {k: canceled["error"][k] for k in ("code", "source")} == CANCELED_BY_CLIENT
    assert (canceled["project_id"], canceled["credits_charged"]) == (None, None)
    assert stack.get_job(second["job_id"]).json() == canceled

    # The slot frees; the dispatcher finds nothing to create: the canceled job stays canceled.
    assert stack.wait_for(first["job_id"], {"completed", "failed"})["status"] == "completed"
    third = submit(stack, VOICE)
    assert stack.wait_for(third["job_id"], {"completed", "failed"})["status"] == "completed"
    assert stack.sim_stats()["creates"] == creates + 1  # the third only
    assert stack.get_job(second["job_id"]).json()["status"] == "canceled"


def test_repeating_the_cancel_answers_the_same_job(stack: StackHandle) -> None:
    holding_the_slot(stack, render_seconds=2)
    waiting = submit(stack, VOICE, expect="waiting")
    once, again = cancel(stack, waiting["job_id"]), cancel(stack, waiting["job_id"])
    assert (once.status_code, again.status_code) == (202, 202), (once.text, again.text)
    assert again.json()["status"] == "canceled"
    assert again.json()["updated_at"] == once.json()["updated_at"]  # nothing was written again


def test_a_job_sent_to_magic_hour_is_not_cancelable_and_unchanged(stack: StackHandle) -> None:
    sent = holding_the_slot(stack, render_seconds=3)
    answer = cancel(stack, sent["job_id"])
    assert answer.status_code == 409, answer.text
    assert answer.json()["error"]["code"] == "not_cancelable"
    assert "no cancellation API" in answer.json()["error"]["message"]
    # It runs to its end at Magic Hour, whatever the cancel said.
    assert stack.wait_for(sent["job_id"], {"completed", "failed", "canceled"})["status"] == "completed"


def test_an_ended_job_is_not_cancelable(stack: StackHandle) -> None:
    stack.scenario(render_seconds=0.2)
    job = submit(stack, VOICE)
    done = stack.wait_for(job["job_id"], {"completed", "failed"})
    assert done["status"] == "completed"
    answer = cancel(stack, job["job_id"])
    assert answer.status_code == 409, answer.text
    assert answer.json()["error"]["code"] == "not_cancelable"
    assert stack.get_job(job["job_id"]).json()["status"] == "completed"


def test_another_clients_job_and_unknown_ids_are_not_found(stack: StackHandle) -> None:
    holding_the_slot(stack, render_seconds=2)
    waiting = submit(stack, VOICE, expect="waiting")
    strangers = [(waiting["job_id"], "key-beta"), ("job_doesnotexist", "key-alpha"), ("..", "key-alpha")]
    for job_id, key in strangers:
        answer = cancel(stack, job_id, key)
        assert answer.status_code == 404, (job_id, answer.text)
        assert answer.json()["error"]["code"] == "not_found"
    assert stack.get_job(waiting["job_id"]).json()["status"] == "waiting"
    assert cancel(stack, waiting["job_id"]).status_code == 202  # its own client may


def test_the_cancel_releases_the_reservation(stack: StackHandle) -> None:
    """400 credits: a rendering video (150) and a waiting one (150 reserved) leave no room for a
    third; canceling the waiting one gives its 150 back at once."""
    stack.scenario(render_seconds=3)
    first = submit(stack, VIDEO, key="key-gamma")
    stack.wait_for(first["job_id"], {"queued", "rendering"}, timeout=15, key="key-gamma")
    waiting = submit(stack, VIDEO, expect="waiting", key="key-gamma")
    refused = stack.post_job(VIDEO, "key-gamma")
    assert refused.status_code == 402, refused.text
    assert cancel(stack, waiting["job_id"], "key-gamma").status_code == 202
    admitted = stack.post_job(VIDEO, "key-gamma")
    assert admitted.status_code == 202, admitted.text


def test_the_cancel_sends_the_signed_callback_once(stack: StackHandle) -> None:
    receiver = CallbackReceiver("/hooks/cancel", refuses=lambda _: False)
    try:
        holding_the_slot(stack, render_seconds=2)
        waiting = submit(stack, {**VOICE, "callback_url": receiver.url}, expect="waiting")
        assert cancel(stack, waiting["job_id"]).status_code == 202
        [(_, headers, body)] = poll(receiver.accepted, 20, "the cancel's callback")
        secret = requests.get(f"{stack.api}/v1/callback-secret", headers=stack.headers(), timeout=10).json()[
            "secret"
        ]
        Webhook(secret).verify(body, {k.lower(): v for k, v in headers.items()})
        sent = json.loads(body)
        assert (sent["job_id"], sent["status"]) == (waiting["job_id"], "canceled")
        assert {k: sent["error"][k] for k in ("code", "source")} == CANCELED_BY_CLIENT
    finally:
        receiver.server.shutdown()


def test_a_cancel_racing_the_dispatcher_is_one_or_the_other(stack: StackHandle) -> None:
    """Jobs wait behind a slot that frees while each is canceled: each ends canceled with no
    project, or its cancel was refused and it was created. Never both, never neither."""
    first = holding_the_slot(stack, render_seconds=2)
    waiting = [submit(stack, VOICE, expect="waiting")["job_id"] for _ in range(4)]
    creates = stack.sim_stats()["creates"]
    stack.scenario(render_seconds=0.1)
    stack.wait_for(first["job_id"], {"completed"})
    with ThreadPoolExecutor(len(waiting)) as pool:
        answers = list(pool.map(lambda job_id: cancel(stack, job_id), waiting))
    ended = [stack.wait_for(job_id, {"completed", "failed", "canceled"}, timeout=60) for job_id in waiting]
    for answer, job in zip(answers, ended, strict=True):
        if answer.status_code == 202:
            assert (job["status"], job["project_id"]) == ("canceled", None), job
        else:
            assert answer.status_code == 409, answer.text
            assert job["status"] == "completed", job
            assert job["project_id"] is not None, job
    assert stack.sim_stats()["creates"] - creates == sum(job["status"] == "completed" for job in ended)


def test_a_batch_cancel_ends_what_waits_and_the_batch_after_the_rest(stack: StackHandle) -> None:
    """One slot: the batch's first job goes to Magic Hour, the others wait. The cancel ends the
    waiting ones at once; the first runs to its end, and then the batch ends `canceled`."""
    stack.scenario(render_seconds=2)
    jobs = [{"custom_id": f"row-{i}", **VOICE} for i in range(3)]
    posted = requests.post(
        f"{stack.api}/v1/batches", json={"jobs": jobs}, headers=stack.headers(), timeout=30
    )
    assert posted.status_code == 202, posted.text
    batch_id = posted.json()["batch_id"]
    url = f"{stack.api}/v1/batches/{batch_id}"
    poll(
        lambda: requests.get(url, headers=stack.headers(), timeout=10).json()["counts"]["waiting"],
        15,
        "the batch's first job leaving waiting",
        until=lambda waiting: waiting == 2,
    )

    answer = requests.post(f"{url}/cancel", headers=stack.headers(), timeout=30)
    assert answer.status_code == 202, answer.text
    assert answer.json()["counts"]["canceled"] == 2
    assert answer.json()["status"] == "running"  # its first job still runs at Magic Hour
    again = requests.post(f"{url}/cancel", headers=stack.headers(), timeout=30)
    assert again.status_code == 202, again.text

    batch = poll(
        lambda: requests.get(url, headers=stack.headers(), timeout=10).json(),
        30,
        "the batch's end",
        until=lambda batch: batch["status"] != "running",
        interval=0.2,
    )
    assert batch["status"] == "canceled"
    assert {k: v for k, v in batch["counts"].items() if v} == {"total": 3, "completed": 1, "canceled": 2}
    ended = requests.post(f"{url}/cancel", headers=stack.headers(), timeout=30)
    assert ended.status_code == 409, ended.text
    assert ended.json()["error"]["code"] == "not_cancelable"
    other = requests.post(f"{url}/cancel", headers=stack.headers("key-beta"), timeout=30)
    assert other.status_code == 404, other.text
