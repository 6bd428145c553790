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
from conftest import StackHandle, own_stack

from pipeline.platform import ids
from tests.observe import all_jobs

VOICE = {"tool": "ai-voice-generator", "input": {"style": {"prompt": "hi", "voice_name": "Elon Musk"}}}
TOTAL = 105
# Writing ~100 jobs through a loaded local stack takes a while.
pytestmark = pytest.mark.timeout(720)


@pytest.fixture(scope="module")
def swept(tmp_path_factory: pytest.TempPathFactory) -> Iterator[StackHandle]:
    with own_stack(tmp_path_factory, schedule_seconds=2) as handle:
        # Room at Magic Hour for every job at once: no 429 pause slows the batch's ending.
        handle.scenario(render_seconds=0.1, plan_concurrency=1000)
        yield handle


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


def _wait_status(
    stack: StackHandle, batch_id: str, statuses: tuple[str, ...], seconds: float = 120
) -> dict[str, Any]:
    deadline = time.monotonic() + seconds
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
        # 503 when the failed puts end the request; 504 when, on a loaded box, the gateway's 29 s
        # passed first (the local gateway answers once the invocation has ended, as the function
        # would have by its own 29 s deployed): either way the writer is gone, midway.
        assert answer.status_code in (503, 504), answer.text
        # Its id follows from the client and the key (GET /v1/batches may be slow on a loaded box).
        stuck = _batch(swept, ids.batch_id_for_idempotency_key("client-alpha", "resume-1"))
        assert stuck["status"] == "validating"
        written = [job for job in all_jobs(swept) if job.get("batch_id") == stuck["batch_id"]]
        assert len(written) < TOTAL
        if answer.status_code == 503:
            # The first chunk of 100 was written and noted before the puts began to fail.
            assert len(written) >= 100
    finally:
        swept.stack.faults.clear()
    # The sweep resumes it from its note: every job written, the batch `running`.
    _wait_status(swept, stuck["batch_id"], ("running", "completed"))
    jobs = [job for job in all_jobs(swept) if job.get("batch_id") == stuck["batch_id"]]
    assert len(jobs) == TOTAL
    assert Counter(job["custom_id"] for job in jobs) == Counter(f"r-{i}" for i in range(TOTAL))
    ended = _wait_status(swept, stuck["batch_id"], ("completed",), seconds=480)
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
