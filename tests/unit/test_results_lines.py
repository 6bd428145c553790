"""The results file's lines (callbacks/batch_end.result_lines): the batch's jobs in its order,
whatever order their pages' reads finish in, with at most READ_AHEAD pages read at once, so a
10,000-job file fits the callbacks function's timeout without the batch in memory."""

from __future__ import annotations

import json
import threading

import pytest

from pipeline.callbacks import batch_end
from pipeline.models.job import Job, JobStatus
from pipeline.platform import ids

BATCH_ID = ids.new_batch_id()
TOTAL = 1_234


class Reads:
    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.in_flight = 0
        self.most_in_flight = 0
        self.calls = 0
        # The first page's read waits until a later page's read is done: pages finish out of order.
        self.later_page_done = threading.Event()

    def get_jobs(self, job_ids: list[str]) -> dict[str, Job]:
        with self.lock:
            self.calls += 1
            self.in_flight += 1
            self.most_in_flight = max(self.most_in_flight, self.in_flight)
        first = job_ids[0] == ids.job_id_in_batch(BATCH_ID, 0)
        if first:
            assert self.later_page_done.wait(timeout=10)
        found = {job_id: _job(job_id) for job_id in job_ids if job_id != ids.job_id_in_batch(BATCH_ID, 7)}
        with self.lock:
            self.in_flight -= 1
        if not first:
            self.later_page_done.set()
        return found


def _job(job_id: str) -> Job:
    return Job(
        job_id=job_id,
        client_id="client-alpha",
        tool="ai-voice-generator",
        kind="audio",
        status=JobStatus.COMPLETED,
        created_at="2026-12-07T12:00:00Z",
        updated_at="2026-12-07T12:00:00Z",
        batch_id=BATCH_ID,
        custom_id="row",
    )


def test_lines_come_in_the_batchs_order_with_a_bounded_read_ahead(monkeypatch: pytest.MonkeyPatch) -> None:
    reads = Reads()
    monkeypatch.setattr(batch_end.job_store, "get_jobs", reads.get_jobs)
    lines = [json.loads(line) for line in batch_end.result_lines(BATCH_ID, TOTAL)]
    expected = [ids.job_id_in_batch(BATCH_ID, i) for i in range(TOTAL) if i != 7]
    assert [line["job_id"] for line in lines] == expected  # a job not found stays out
    assert reads.calls == -(-TOTAL // batch_end.job_store.BATCH_GET_KEYS)
    assert 1 < reads.most_in_flight <= batch_end.READ_AHEAD
