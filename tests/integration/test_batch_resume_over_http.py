"""A manifest batch whose request died after its batch item was written and before all its jobs
were (CONTRACT §1 "Batches"): the sweep resumes it from its note, so it ends with counts adding up
to its total and every job written once. On a stack of its own with a two-second sweep."""

from __future__ import annotations

import json
import time
from collections import Counter
from collections.abc import Iterator
from typing import Any

import pytest
import requests
from conftest import StackHandle, start_stack

from tests.observe import all_jobs

VOICE = {"tool": "ai-voice-generator", "input": {"style": {"prompt": "hi", "voice_name": "Elon Musk"}}}
TOTAL = 105
# Writing ~100 jobs through a loaded local stack takes a while.
pytestmark = pytest.mark.timeout(300)


@pytest.fixture(scope="module")
def swept(tmp_path_factory: pytest.TempPathFactory) -> Iterator[StackHandle]:
    stack, handle = start_stack(tmp_path_factory, schedule_seconds=2)
    try:
        handle.scenario(render_seconds=0.1)
        yield handle
    finally:
        stack.stop()


def _upload(stack: StackHandle, data: bytes) -> str:
    answer = requests.post(
        f"{stack.api}/v1/uploads", json={"extension": "jsonl"}, headers=stack.headers(), timeout=10
    )
    assert answer.status_code == 201, answer.text
    assert requests.put(answer.json()["upload_url"], data=data, timeout=30).status_code == 200
    return str(answer.json()["file_path"])


def _batch(stack: StackHandle, batch_id: str) -> dict[str, Any]:
    answer = requests.get(f"{stack.api}/v1/batches/{batch_id}", headers=stack.headers(), timeout=30)
    assert answer.status_code == 200, answer.text
    return dict(answer.json())


def _wait_status(stack: StackHandle, batch_id: str, statuses: tuple[str, ...]) -> dict[str, Any]:
    deadline = time.monotonic() + 120
    batch = _batch(stack, batch_id)
    while batch["status"] not in statuses:
        if time.monotonic() > deadline:
            raise AssertionError(f"batch stayed {batch['status']}: {batch['counts']}")
        time.sleep(0.5)
        batch = _batch(stack, batch_id)
    return batch


def test_a_batch_whose_writer_died_midway_is_resumed_by_the_sweep(swept: StackHandle) -> None:
    data = b"".join(json.dumps({"custom_id": f"r-{i}", **VOICE}).encode() + b"\n" for i in range(TOTAL))
    manifest = _upload(swept, data)
    # The jobs' puts fail after the first 103 (boto3's retries included): the request dies with
    # its batch item written, its first chunk of 100 jobs noted and part of the second written.
    swept.stack.faults.inject("PutItem", count=100_000, after=103)
    try:
        answer = requests.post(
            f"{swept.api}/v1/batches",
            json={"manifest": manifest},
            headers=swept.headers(**{"Idempotency-Key": "resume-1"}),
            timeout=60,
        )
        assert answer.status_code == 503, answer.text
        listed = requests.get(f"{swept.api}/v1/batches", headers=swept.headers(), timeout=10).json()
        stuck = next(b for b in listed["batches"] if b["status"] == "validating")
        written = [job for job in all_jobs(swept) if job.get("batch_id") == stuck["batch_id"]]
        assert 100 <= len(written) < TOTAL
    finally:
        swept.stack.faults.clear()
    # The sweep resumes it from its note: every job written, the batch `running`.
    _wait_status(swept, stuck["batch_id"], ("running", "completed"))
    jobs = [job for job in all_jobs(swept) if job.get("batch_id") == stuck["batch_id"]]
    assert len(jobs) == TOTAL
    assert Counter(job["custom_id"] for job in jobs) == Counter(f"r-{i}" for i in range(TOTAL))
    # Rendering 105 jobs on a loaded box is slow and beside the point: cancel what still waits, so
    # the batch ends with what was sent at Magic Hour running to its end.
    canceled = requests.post(
        f"{swept.api}/v1/batches/{stuck['batch_id']}/cancel", headers=swept.headers(), timeout=30
    )
    assert canceled.status_code in (202, 409), canceled.text  # 409: it had ended already
    ended = _wait_status(swept, stuck["batch_id"], ("completed", "canceled"))
    counts = ended["counts"]
    assert counts["total"] == TOTAL
    assert sum(value for name, value in counts.items() if name != "total") == TOTAL
    assert counts["completed"] + counts["failed"] + counts["canceled"] == TOTAL, counts
    jobs = [job for job in all_jobs(swept) if job.get("batch_id") == stuck["batch_id"]]
    assert Counter(job["status"] for job in jobs) == {
        status: counts[status] for status in ("completed", "failed", "canceled") if counts[status]
    }
    # No job was created at Magic Hour twice.
    projects = [job["project_id"] for job in jobs if job["project_id"]]
    assert len(set(projects)) == len(projects) >= counts["completed"]
