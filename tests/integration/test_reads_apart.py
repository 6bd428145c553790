"""Reads never wait behind another client's slow creates: the GET routes are the query function's,
with concurrency of their own. Client A's POSTs fill every worker of the submit function while
Magic Hour takes seconds per create, and client B's reads still answer at once. (Before the
query function, B's reads queued behind A's creates, for a whole create or two.)"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator

import pytest
import requests
from conftest import StackHandle, start_stack

from tests.polling import poll

VOICE = {"tool": "ai-voice-generator", "input": {"style": {"prompt": "hi", "voice_name": "Elon Musk"}}}
CREATE_SECONDS = 8.0
# A warm read answers in tens of milliseconds here (a few hundred on a loaded machine); one that
# waited for a worker of the submit function waits for a create, CREATE_SECONDS.
READ_BOUND_SECONDS = 3.0


@pytest.fixture(scope="module")
def unshared(tmp_path_factory: pytest.TempPathFactory) -> Iterator[StackHandle]:
    """A stack of its own: its submit workers are filled on purpose, and the shared stack's other
    tests must not wait behind them."""
    stack, handle = start_stack(tmp_path_factory, schedule_seconds=3600)
    try:
        yield handle
    finally:
        stack.stop()


def _read_all(stack: StackHandle, reads: dict[str, str]) -> dict[str, float]:
    """Client B's reads, one after another: how long each took."""
    took: dict[str, float] = {}
    for name, path in reads.items():
        started = time.monotonic()
        answer = requests.get(f"{stack.api}{path}", headers=stack.headers("key-beta"), timeout=30)
        took[name] = round(time.monotonic() - started, 3)
        assert answer.status_code == 200, (name, answer.text)
    return took


def test_a_clients_reads_answer_while_another_clients_slow_creates_fill_submit(unshared: StackHandle) -> None:
    stack = unshared
    job = stack.post_job(VOICE, key="key-beta")
    assert job.status_code == 202, job.text
    job_id = job.json()["job_id"]
    reads = {
        "job": f"/v1/jobs/{job_id}",
        "jobs": "/v1/jobs?limit=5",
        "tools": "/v1/tools",
        "usage": "/v1/usage",
        "batches": "/v1/batches",
        "callback secret": "/v1/callback-secret",
    }
    _read_all(stack, reads)  # warm, as a polled deployment is: the first reads load their code
    submit = stack.stack.pools["SubmitFunction"]
    stack.scenario(create_delay_seconds=CREATE_SECONDS)
    answers: list[int] = []

    def post() -> None:
        answers.append(stack.post_job(VOICE, key="key-alpha").status_code)

    # Twice the submit function's workers: every worker busy, as many more A's waiting for one.
    posters = [threading.Thread(target=post, daemon=True) for _ in range(2 * submit.workers)]
    try:
        for poster in posters:
            poster.start()
        poll(
            submit.busy, 10, "every submit worker busy with A's creates", until=lambda n: n == submit.workers
        )
        took = _read_all(stack, reads)
        assert max(took.values()) < READ_BOUND_SECONDS, took
        # The reads really ran while A held every submit worker.
        assert submit.busy() == submit.workers
    finally:
        stack.scenario(create_delay_seconds=0)
        for poster in posters:
            poster.join(timeout=60)
    assert answers == [202] * len(posters), answers
