"""A batch's jobs share the fair queue with every other job (CONTRACT §1 "Batches"): client A's
500-job batch never keeps client B's single job waiting beyond its fair share. On a stack of its
own (nothing left by other tests moves the slots it counts) with a plan limit of 2."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
import requests
from conftest import StackHandle, own_stack

from tests.polling import poll

VOICE = {"tool": "ai-voice-generator", "input": {"style": {"prompt": "hi", "voice_name": "Elon Musk"}}}
LIMIT = 2
pytestmark = pytest.mark.timeout(240)


@pytest.fixture(scope="module")
def unshared(tmp_path_factory: pytest.TempPathFactory) -> Iterator[StackHandle]:
    with own_stack(tmp_path_factory, parameters={"MagicHourMaxConcurrency": str(LIMIT)}) as handle:
        yield handle


def _batch(stack: StackHandle, batch_id: str) -> dict[str, Any]:
    answer = requests.get(f"{stack.api}/v1/batches/{batch_id}", headers=stack.headers(), timeout=30)
    answer.raise_for_status()
    return dict(answer.json())


def _sent(batch: dict[str, Any]) -> int:
    """A's jobs that have left `waiting` (sent to Magic Hour, or ended)."""
    counts = batch["counts"]
    return int(counts["total"]) - int(counts["waiting"])


def test_a_single_job_is_created_within_its_fair_share_of_a_500_job_batch(unshared: StackHandle) -> None:
    stack = unshared
    stack.scenario(render_seconds=1.0)
    body = {"jobs": [{"custom_id": f"a-{i}", **VOICE} for i in range(500)]}
    answer = requests.post(
        f"{stack.api}/v1/batches", json=body, headers=stack.headers("key-alpha"), timeout=60
    )
    assert answer.status_code == 202, answer.text
    batch_id = answer.json()["batch_id"]
    # A's batch fills both slots and queues up behind them.
    poll(
        lambda: _batch(stack, batch_id),
        until=lambda b: _sent(b) >= LIMIT and b["counts"]["waiting"] >= 100,
        what="A's batch holding the slots with jobs waiting",
        timeout=60,
    )
    sent_before = _sent(_batch(stack, batch_id))
    beta = stack.post_job(VOICE, key="key-beta").json()
    created = poll(
        lambda: requests.get(
            f"{stack.api}/v1/jobs/{beta['job_id']}", headers=stack.headers("key-beta"), timeout=30
        ).json(),
        until=lambda job: job["project_id"] is not None,
        what="B's job created at Magic Hour",
        timeout=60,
    )
    sent_after = _sent(_batch(stack, batch_id))
    # Round-robin: B's job takes the next slot that frees (at most one more of A's per slot held
    # while B's request was written), never a place behind A's ~500 waiting jobs.
    assert sent_after - sent_before <= LIMIT + 1, (sent_before, sent_after)
    assert _batch(stack, batch_id)["counts"]["waiting"] > 400
    assert created["status"] in ("waiting", "submitting", "queued", "rendering", "downloading", "completed")
