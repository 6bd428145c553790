"""A batch's ending through the local stack over HTTP (CONTRACT §1 "Batches"): its
`credits_charged`, its results file and its callback, on a stack of its own."""

from __future__ import annotations

import hashlib
import json
import time
from collections.abc import Iterator
from typing import Any

import pytest
import requests
from conftest import StackHandle, fresh_scenario, own_stack
from standardwebhooks.webhooks import Webhook

from tests.observe import CallbackReceiver
from tests.polling import poll

VOICE = {"tool": "ai-voice-generator", "input": {"style": {"prompt": "hi", "voice_name": "Elon Musk"}}}


@pytest.fixture(scope="module")
def ending(tmp_path_factory: pytest.TempPathFactory) -> Iterator[StackHandle]:
    with own_stack(tmp_path_factory) as handle:
        yield handle


@pytest.fixture
def stack(ending: StackHandle) -> StackHandle:
    return fresh_scenario(ending, render_seconds=0.2)


def post_batch(stack: StackHandle, body: Any, key: str = "key-alpha") -> dict[str, Any]:
    answer = requests.post(f"{stack.api}/v1/batches", json=body, headers=stack.headers(key), timeout=30)
    assert answer.status_code == 202, answer.text
    return dict(answer.json())


def get_batch(stack: StackHandle, batch_id: str, key: str = "key-alpha") -> dict[str, Any]:
    answer = requests.get(f"{stack.api}/v1/batches/{batch_id}", headers=stack.headers(key), timeout=10)
    assert answer.status_code == 200, answer.text
    return dict(answer.json())


def batch_jobs(stack: StackHandle, batch_id: str) -> list[dict[str, Any]]:
    url = f"{stack.api}/v1/batches/{batch_id}/jobs"
    found: list[dict[str, Any]] = []
    cursor: str | None = None
    while True:
        params = {"limit": "100", **({"cursor": cursor} if cursor else {})}
        page = requests.get(url, params=params, headers=stack.headers(), timeout=10).json()
        found += page["jobs"]
        cursor = page["next_cursor"]
        if not cursor:
            return found


def wait_batch(stack: StackHandle, batch_id: str, until: Any, timeout: float = 60) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    batch = get_batch(stack, batch_id)
    while not until(batch):
        if time.monotonic() > deadline:
            raise AssertionError(f"the batch stayed {batch}")
        time.sleep(0.2)  # polling, as tests/polling.py does
        batch = get_batch(stack, batch_id)
    return batch


def usage_charged(stack: StackHandle) -> int:
    answer = requests.get(f"{stack.api}/v1/usage", headers=stack.headers(), timeout=10)
    return int(answer.json()["credits_charged"])


def test_a_batchs_credits_are_the_sum_of_its_jobs_charges(stack: StackHandle) -> None:
    before = usage_charged(stack)
    batch = post_batch(stack, {"jobs": [{"custom_id": f"c-{i}", **VOICE} for i in range(3)]})
    assert batch["credits_charged"] == 0
    ended = wait_batch(stack, batch["batch_id"], lambda b: b["status"] == "completed")
    charges = [job["credits_charged"] for job in batch_jobs(stack, batch["batch_id"])]
    assert all(charge for charge in charges), charges
    assert ended["credits_charged"] == sum(charges)
    assert usage_charged(stack) - before == sum(charges)


def test_a_render_magic_hour_failed_is_refunded_in_the_batchs_credits(stack: StackHandle) -> None:
    stack.scenario(render_seconds=0.2, outcome="error")
    before = usage_charged(stack)
    batch = post_batch(stack, {"jobs": [{"custom_id": f"f-{i}", **VOICE} for i in range(2)]})
    ended = wait_batch(stack, batch["batch_id"], lambda b: b["status"] == "completed")
    assert ended["counts"]["failed"] == 2
    # Charged at the create, refunded when Magic Hour failed the render: as GET /v1/usage counts.
    assert ended["credits_charged"] == 0
    assert usage_charged(stack) == before


def results_of(stack: StackHandle, batch_id: str) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """The ended batch once its results file is written, and the file's lines."""
    batch = wait_batch(stack, batch_id, lambda b: b["results_url"] is not None)
    answer = requests.get(batch["results_url"], timeout=10)
    assert answer.status_code == 200, answer.text
    return batch, [json.loads(line) for line in answer.content.decode().splitlines()]


def test_the_results_file_lists_every_job_in_the_batchs_order(stack: StackHandle) -> None:
    stack.scenario(render_seconds=0.2, outputs=2)
    custom_ids = [f"r-{i}" for i in (3, 1, 2, 0)]  # not sorted: the order is the batch's
    batch = post_batch(stack, {"jobs": [{"custom_id": custom_id, **VOICE} for custom_id in custom_ids]})
    assert batch["results_url"] is None
    ended, lines = results_of(stack, batch["batch_id"])
    assert ended["status"] == "completed"
    assert [line["custom_id"] for line in lines] == custom_ids
    jobs = {job["job_id"]: job for job in batch_jobs(stack, batch["batch_id"])}
    for line in lines:
        job = jobs[line["job_id"]]
        assert set(line) == {"custom_id", "job_id", "status", "outputs", "credits_charged", "error"}
        assert (line["status"], line["credits_charged"], line["error"]) == (
            "completed",
            job["credits_charged"],
            None,
        )
        assert line["outputs"] == [
            {key: output[key] for key in ("index", "s3_uri", "size_bytes", "sha256")}
            for output in job["outputs"]
        ]
        assert len(line["outputs"]) == 2
    # The stored bytes are the ones the line names.
    stored = requests.get(next(iter(jobs.values()))["outputs"][0]["download_url"], timeout=10).content
    assert hashlib.sha256(stored).hexdigest() in {o["sha256"] for line in lines for o in line["outputs"]}
    # Short-lived and signed: the URL is a presigned GET of the client's own results prefix.
    assert "X-Amz-Signature=" in ended["results_url"]
    assert "/results/client-alpha/" in ended["results_url"]


def test_a_failed_jobs_line_carries_its_error(stack: StackHandle) -> None:
    stack.scenario(render_seconds=0.2, outcome="error")
    batch = post_batch(stack, {"jobs": [{"custom_id": "bad-0", **VOICE}]})
    _, [line] = results_of(stack, batch["batch_id"])
    assert (line["custom_id"], line["status"], line["outputs"]) == ("bad-0", "failed", [])
    assert line["error"]["source"] == "magic_hour"


def test_an_ended_batch_sends_one_signed_callback_with_its_results(stack: StackHandle) -> None:
    receiver = CallbackReceiver("/hooks/batch", refuses=lambda n: n == 0)  # the first attempt fails
    try:
        batch = post_batch(
            stack,
            {"jobs": [{"custom_id": f"cb-{i}", **VOICE} for i in range(2)], "callback_url": receiver.url},
        )
        assert batch["callback"] == {"state": "pending", "attempts": 0, "last_error": None}
        [(_, headers, body)] = poll(receiver.accepted, timeout=60, what="the batch's callback")
        secret = requests.get(f"{stack.api}/v1/callback-secret", headers=stack.headers(), timeout=10).json()[
            "secret"
        ]
        Webhook(secret).verify(body, {k.lower(): v for k, v in headers.items()})
        sent = json.loads(body)
        assert (sent["batch_id"], sent["status"]) == (batch["batch_id"], "completed")
        assert requests.get(sent["results_url"], timeout=10).status_code == 200
        ended = wait_batch(stack, batch["batch_id"], lambda b: b["callback"]["state"] == "delivered")
        assert ended["callback"]["attempts"] == 2
        assert len(receiver.deliveries) == 2
        # The retry was the same message: receivers drop repeats by webhook-id.
        assert receiver.deliveries[0][1]["webhook-id"] == headers["webhook-id"]
    finally:
        receiver.server.shutdown()
