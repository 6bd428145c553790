"""A batch's ending through the local stack over HTTP (CONTRACT §1 "Batches"): its
`credits_charged`, its results file and its callback, on a stack of its own."""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Any

import pytest
import requests
from conftest import StackHandle, start_stack

VOICE = {"tool": "ai-voice-generator", "input": {"style": {"prompt": "hi", "voice_name": "Elon Musk"}}}


@pytest.fixture(scope="module")
def ending(tmp_path_factory: pytest.TempPathFactory) -> Iterator[StackHandle]:
    stack, handle = start_stack(tmp_path_factory, schedule_seconds=3600)
    try:
        yield handle
    finally:
        stack.stop()


@pytest.fixture
def stack(ending: StackHandle) -> StackHandle:
    requests.delete(f"{ending.magic_hour}/_sim/scenario", timeout=5).raise_for_status()
    ending.scenario(render_seconds=0.2)
    return ending


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
        time.sleep(0.2)
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
