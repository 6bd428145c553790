"""Fair slots with no limit of ours (MagicHourMaxConcurrency 0: Magic Hour's 429s are the limit),
on the in-memory job store: a new submission never creates while another job waits."""

from __future__ import annotations

from typing import cast

import pytest

from pipeline.create import claims, creation
from pipeline.magic_hour.catalogue import find_tool
from pipeline.magic_hour.client import MagicHourClient
from pipeline.models.api import CreateJobRequest
from pipeline.models.job import Job, JobStatus
from pipeline.platform import ids
from pipeline.platform.settings import Settings
from pipeline.platform.timeutil import epoch_seconds
from pipeline.store import fair_queue
from pipeline.submit import submission
from pipeline.submit.validation import Submission
from tests.fakes import Fakes, install

VOICE = {"tool": "ai-voice-generator", "input": {"style": {"prompt": "hi", "voice_name": "Elon Musk"}}}
MAGIC_HOUR = cast(MagicHourClient, object())  # never reached: creation.create is replaced


class Rounds:
    """Stands in for the clients table's rounds: each client's next round, as store/fair_queue.py gives it."""

    def __init__(self) -> None:
        self.dispatched = 0
        self.last: dict[str, int] = {}
        self.hold_until = 0

    def next_round_for(self, client_id: str) -> int:
        last = self.last.get(client_id)
        self.last[client_id] = self.dispatched if last is None or last < self.dispatched else last + 1
        return self.last[client_id]

    def note_dispatched(self, round_: int) -> None:
        self.dispatched = max(self.dispatched, round_)


@pytest.fixture
def fakes(monkeypatch: pytest.MonkeyPatch) -> Fakes:
    settings = Settings(magic_hour_max_concurrency=0)
    monkeypatch.setattr(submission, "get_settings", lambda: settings)
    monkeypatch.setattr(submission.account, "get_settings", lambda: settings)
    return install(monkeypatch)


@pytest.fixture
def rounds(monkeypatch: pytest.MonkeyPatch) -> Rounds:
    fake = Rounds()
    monkeypatch.setattr(fair_queue, "next_round_for", fake.next_round_for)
    monkeypatch.setattr(fair_queue, "note_dispatched", fake.note_dispatched)
    monkeypatch.setattr(fair_queue, "hold", lambda: (fake.hold_until, 1 if fake.hold_until else 0))
    return fake


@pytest.fixture
def created(fakes: Fakes, monkeypatch: pytest.MonkeyPatch) -> list[str]:
    sent: list[str] = []

    def create(job: Job, magic_hour: MagicHourClient, *, inline: bool) -> Job:
        sent.append(job.job_id)
        attached = fakes.store.attach_project(job, f"proj_{len(sent)}", 10)
        assert attached is not None
        return attached

    monkeypatch.setattr(creation, "create", create)
    return sent


def post(client_id: str, key: str) -> Job:
    tool = find_tool("ai-voice-generator")
    assert tool is not None
    sub = Submission(client_id, CreateJobRequest.model_validate(VOICE), tool, "fp", key)
    job = submission.submit(sub, ids.job_id_for_idempotency_key(client_id, key), MAGIC_HOUR)
    assert job is not None
    return job


def waiting_job(fakes: Fakes, client_id: str, round_: int) -> Job:
    """A job Magic Hour refused with 429: back in the fair queue at `round_`."""
    job_id = ids.job_id_for_idempotency_key(client_id, f"refused-{round_}")
    now = "2026-01-01T00:00:00.000Z"
    return fakes.store.put(
        Job(
            job_id=job_id,
            client_id=client_id,
            tool="ai-voice-generator",
            kind="audio",
            status=JobStatus.WAITING,
            created_at=now,
            updated_at=now,
            fair_key=fair_queue.fair_key(round_, now, job_id),
            create_attempts=1,
            last_create_error=creation.RATE_LIMITED,
        )
    )


def test_with_nobody_waiting_a_new_job_is_created_at_once(
    fakes: Fakes, rounds: Rounds, created: list[str]
) -> None:
    job = post("client-a", "k1")
    assert (job.status, created) == (JobStatus.QUEUED, [job.job_id])
    assert job.fair_key is None


def test_a_new_job_queues_behind_another_clients_waiting_job(
    fakes: Fakes, rounds: Rounds, created: list[str]
) -> None:
    refused = waiting_job(fakes, "client-b", 0)
    rounds.last["client-b"] = 0
    job = post("client-a", "k1")
    assert job.status is JobStatus.WAITING
    assert created == []
    assert job.fair_key is not None
    assert refused.fair_key is not None
    assert refused.fair_key < job.fair_key
    assert fakes.queues.wakeups  # the dispatcher takes it in fair order


def test_a_client_posting_steadily_takes_rounds_behind_the_one_waiting(
    fakes: Fakes, rounds: Rounds, created: list[str]
) -> None:
    waiting_job(fakes, "client-b", 0)
    rounds.last["client-b"] = 0
    steady = [post("client-a", f"k{i}") for i in range(3)]
    assert created == []
    assert [job.fair_key[:12] for job in steady if job.fair_key] == [
        "000000000000",
        "000000000001",
        "000000000002",
    ]


@pytest.mark.parametrize("paused", [False, True])
def test_a_new_job_at_the_head_of_the_queue_waits_for_the_dispatcher_paused_or_not(
    fakes: Fakes, rounds: Rounds, created: list[str], paused: bool
) -> None:
    # Client B's burst waits at later rounds; client A's new job gets the round dispatched now, so
    # it heads the queue: still, the slot Magic Hour frees is the dispatcher's to hand out in fair
    # order (submit sending it at once let a steady poster take freed slots ahead of waiting jobs).
    rounds.dispatched = 5
    waiting_job(fakes, "client-b", 9)
    rounds.hold_until = epoch_seconds() + 30 if paused else 0
    job = post("client-a", "k1")
    assert (job.status, created) == (JobStatus.WAITING, [])
    assert fakes.queues.wakeups
    head = claims.next_due_job(0)
    assert head is not None
    assert head.job_id == job.job_id  # first in line by its round
