"""Idempotency-Key on the in-memory job store: the job record (derived id, conditional write,
fingerprint, submit claim) is the one mechanism. Every case a duplicate can meet: nothing yet, the
first still creating, finished, crashed, another body, a first attempt that removed its job."""

from __future__ import annotations

from typing import Any, cast

import pytest

from pipeline.create import claims, creation
from pipeline.jobs import errors, moves
from pipeline.magic_hour.catalogue import find_tool
from pipeline.magic_hour.client import MagicHourClient
from pipeline.models.api import CreateJobRequest
from pipeline.models.job import Job, JobStatus
from pipeline.platform import ids
from pipeline.platform.settings import Settings
from pipeline.platform.timeutil import epoch_seconds
from pipeline.submit import idempotency as idempotency
from pipeline.submit import submission
from pipeline.submit.idempotency import IN_PROGRESS_WAIT_SECONDS, submit_once
from pipeline.submit.validation import Submission
from tests.fakes import Fakes, install

CLIENT = "client-a"
KEY = "order-1234"
JOB_ID = ids.job_id_for_idempotency_key(CLIENT, KEY)
VOICE = {"tool": "ai-voice-generator", "input": {"style": {"prompt": "hi", "voice_name": "Elon Musk"}}}
MAGIC_HOUR = cast(MagicHourClient, object())  # never reached: creation.create is replaced


def make_submission(fingerprint: str = "fp-1", key: str | None = KEY) -> Submission:
    tool = find_tool("ai-voice-generator")
    assert tool is not None
    return Submission(CLIENT, CreateJobRequest.model_validate(VOICE), tool, fingerprint, key)


class Clock:
    """Monotonic time that moves only when the code under test sleeps."""

    def __init__(self) -> None:
        self.now = 1000.0
        self.sleeps: list[float] = []
        self.on_sleep: list[Any] = []

    def __call__(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.now += seconds
        if self.on_sleep:
            self.on_sleep.pop(0)()


class Creates:
    """Stands in for creation.create: counts the creates and answers what the test says."""

    def __init__(self, fakes: Fakes) -> None:
        self.fakes = fakes
        self.jobs: list[str] = []
        self.outcome = "created"

    def __call__(self, job: Job, magic_hour: MagicHourClient, *, inline: bool) -> Job:
        self.jobs.append(job.job_id)
        if self.outcome == "unknown":  # 502/504 or a timeout: the job stays submitting
            return job
        attached = self.fakes.store.attach_project(job, f"proj_{len(self.jobs)}", 10)
        assert attached is not None
        return attached


@pytest.fixture
def settings() -> Settings:
    return Settings(magic_hour_connect_timeout_seconds=3, magic_hour_read_timeout_seconds=20)


@pytest.fixture
def fakes(monkeypatch: pytest.MonkeyPatch, settings: Settings) -> Fakes:
    monkeypatch.setattr(submission, "get_settings", lambda: settings)
    return install(monkeypatch)


@pytest.fixture
def creates(fakes: Fakes, monkeypatch: pytest.MonkeyPatch) -> Creates:
    fake = Creates(fakes)
    monkeypatch.setattr(creation, "create", fake)
    return fake


@pytest.fixture
def clock() -> Clock:
    return Clock()


def existing_job(
    status: JobStatus = JobStatus.SUBMITTING,
    claim_in: int | None = 20,
    fingerprint: str = "fp-1",
    project_id: str | None = None,
) -> Job:
    return Job(
        job_id=JOB_ID,
        client_id=CLIENT,
        tool="ai-voice-generator",
        kind="audio",
        status=status,
        project_id=project_id,
        created_at="2026-01-01T00:00:00.000Z",
        updated_at="2026-01-01T00:00:00.000Z",
        request_fingerprint=fingerprint,
        submit_claim_until=None if claim_in is None else epoch_seconds() + claim_in,
    )


def once(clock: Clock, sub: Submission | None = None) -> Job:
    return submit_once(sub or make_submission(), MAGIC_HOUR, clock=clock, sleep=clock.sleep)


def test_the_first_request_writes_the_derived_job_with_its_claim_and_creates_once(
    fakes: Fakes, creates: Creates, clock: Clock, settings: Settings
) -> None:
    job = once(clock)
    assert (job.job_id, job.status, job.project_id) == (JOB_ID, JobStatus.QUEUED, "proj_1")
    assert creates.jobs == [JOB_ID]
    claim = fakes.store.jobs[JOB_ID].submit_claim_until
    assert claim is not None
    # Magic Hour's create timeout (3 + 20 s) and the margin, from the write.
    assert claim - epoch_seconds() in range(27, 30)
    # A job with its project says by itself that the first request is done: no extra write (its
    # slot of the open pool only counts it in flight, learned_limit.py).
    assert [write[0] for write in fakes.store.writes] == ["put_new_job", "take_open_slot", "attach_project"]
    assert fakes.store.writes[0] == ("put_new_job", "submitting")


def test_a_duplicate_of_a_finished_request_answers_its_job_without_a_create(
    fakes: Fakes, creates: Creates, clock: Clock
) -> None:
    first = once(clock)
    again = once(clock)
    assert again.job_id == first.job_id
    assert again.project_id == "proj_1"
    assert creates.jobs == [JOB_ID]
    assert clock.sleeps == []


def test_another_body_under_the_key_is_a_conflict_even_while_the_first_is_in_flight(
    fakes: Fakes, creates: Creates, clock: Clock
) -> None:
    fakes.store.put(existing_job(claim_in=20))
    with pytest.raises(errors.IdempotencyConflict):
        once(clock, make_submission(fingerprint="fp-other"))
    assert creates.jobs == []
    assert clock.sleeps == []


def test_a_duplicate_waits_for_the_first_request_and_answers_the_job_it_made(
    fakes: Fakes, creates: Creates, clock: Clock
) -> None:
    fakes.store.put(existing_job(claim_in=20))
    # The first request gets its project while the duplicate waits.
    clock.on_sleep = [lambda: None, lambda: fakes.store.attach_project(existing_job(), "proj_first", 5)]
    job = once(clock)
    assert (job.job_id, job.status, job.project_id) == (JOB_ID, JobStatus.QUEUED, "proj_first")
    assert creates.jobs == []
    assert len(clock.sleeps) == 2


def test_a_duplicate_answers_in_progress_when_the_first_is_still_creating_after_the_wait(
    fakes: Fakes, creates: Creates, clock: Clock
) -> None:
    fakes.store.put(existing_job(claim_in=20))
    with pytest.raises(errors.RequestInProgress) as refused:
        once(clock)
    assert refused.value.job_id == JOB_ID
    assert creates.jobs == []
    # Bounded: it gave up after the wait, polling at the interval, not before.
    assert sum(clock.sleeps) == pytest.approx(IN_PROGRESS_WAIT_SECONDS)
    assert set(clock.sleeps) == {idempotency.POLL_SECONDS}


def test_a_first_request_that_crashed_leaves_the_job_as_it_stands_once_its_claim_ran_out(
    fakes: Fakes, creates: Creates, clock: Clock
) -> None:
    fakes.store.put(existing_job(claim_in=-1))
    job = once(clock)
    assert (job.job_id, job.status) == (JOB_ID, JobStatus.SUBMITTING)
    assert creates.jobs == []  # never created twice: the sweep or the webhook settles it
    assert clock.sleeps == []


@pytest.mark.parametrize(
    "job",
    [
        existing_job(JobStatus.SUBMITTING, claim_in=None),  # the first answered: unknown outcome
        existing_job(JobStatus.WAITING, claim_in=None),  # the first answered: waits for a slot
        existing_job(JobStatus.QUEUED, claim_in=20, project_id="proj_x"),  # created
        existing_job(JobStatus.FAILED, claim_in=20),  # refused by Magic Hour
    ],
    ids=["submitting-answered", "waiting-answered", "created", "refused"],
)
def test_a_job_whose_first_request_is_done_is_answered_at_once(
    fakes: Fakes, creates: Creates, clock: Clock, job: Job
) -> None:
    fakes.store.put(job)
    assert once(clock).status is job.status
    assert (creates.jobs, clock.sleeps) == ([], [])


def test_a_first_request_with_an_unknown_outcome_ends_its_claim_so_duplicates_do_not_wait(
    fakes: Fakes, creates: Creates, clock: Clock
) -> None:
    creates.outcome = "unknown"
    first = once(clock)
    assert first.status is JobStatus.SUBMITTING
    assert fakes.store.jobs[JOB_ID].submit_claim_until is None
    assert ("end_submit_claim",) in fakes.store.writes
    again = once(clock)
    assert (again.job_id, again.status) == (JOB_ID, JobStatus.SUBMITTING)
    assert creates.jobs == [JOB_ID]
    assert clock.sleeps == []


def test_a_first_request_whose_job_waits_for_a_slot_ends_its_claim(
    fakes: Fakes, creates: Creates, clock: Clock, settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    limited = settings.model_copy(update={"magic_hour_max_concurrency": 1})
    monkeypatch.setattr(submission, "get_settings", lambda: limited)
    monkeypatch.setattr(submission.account, "get_settings", lambda: limited)  # the limit is read there
    monkeypatch.setattr(submission.fair_queue, "next_round_for", lambda client_id: 0)
    monkeypatch.setattr(claims, "claim_now", lambda job: None)
    monkeypatch.setattr(moves, "wake_dispatcher", lambda *_: None)
    first = once(clock)
    assert first.status is JobStatus.WAITING
    assert fakes.store.jobs[JOB_ID].submit_claim_until is None
    assert once(clock).status is JobStatus.WAITING
    assert (creates.jobs, clock.sleeps) == ([], [])


def test_a_key_freed_by_a_first_attempt_that_removed_its_job_makes_the_job_anew(
    fakes: Fakes, creates: Creates, clock: Clock, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The first attempt's job is there when this request writes, gone when it reads (our Magic
    # Hour key was refused: nothing was created and the job was deleted).
    fakes.store.put(existing_job(claim_in=20))
    real_get = fakes.store.get_job

    def get_after_delete(job_id: str) -> Job | None:
        fakes.store.jobs.pop(job_id, None)
        monkeypatch.setattr(submission.job_store, "get_job", real_get)
        return None

    monkeypatch.setattr(idempotency.job_store, "get_job", get_after_delete)
    job = once(clock)
    assert (job.job_id, job.project_id) == (JOB_ID, "proj_1")
    assert creates.jobs == [JOB_ID]


def test_without_a_key_every_request_is_a_new_job(fakes: Fakes, creates: Creates, clock: Clock) -> None:
    first = once(clock, make_submission(key=None))
    second = once(clock, make_submission(key=None))
    assert first.job_id != second.job_id
    assert JOB_ID not in (first.job_id, second.job_id)
    assert len(creates.jobs) == 2


def test_the_first_request_claim_is_in_flight_only_while_it_can_still_be_creating() -> None:
    now = epoch_seconds()
    in_flight = idempotency.first_request_in_flight
    assert in_flight(existing_job(JobStatus.SUBMITTING, claim_in=5), now)
    assert in_flight(existing_job(JobStatus.WAITING, claim_in=5), now)
    assert not in_flight(existing_job(JobStatus.SUBMITTING, claim_in=0), now)
    assert not in_flight(existing_job(JobStatus.SUBMITTING, claim_in=None), now)
    assert not in_flight(existing_job(JobStatus.SUBMITTING, claim_in=5, project_id="proj"), now)
    assert not in_flight(existing_job(JobStatus.RENDERING, claim_in=5), now)


def test_a_first_request_that_fails_after_its_write_ends_its_claim(
    fakes: Fakes, creates: Creates, clock: Clock, monkeypatch: pytest.MonkeyPatch
) -> None:
    def broken(job: Job, magic_hour: MagicHourClient, *, inline: bool) -> Job:
        raise RuntimeError("the record of the project failed")

    monkeypatch.setattr(creation, "create", broken)
    with pytest.raises(RuntimeError):
        once(clock)
    assert fakes.store.jobs[JOB_ID].submit_claim_until is None
    monkeypatch.setattr(creation, "create", creates)
    assert once(clock).status is JobStatus.SUBMITTING
    assert (creates.jobs, clock.sleeps) == ([], [])


def test_the_create_gets_the_callers_magic_hour_client(
    fakes: Fakes, creates: Creates, clock: Clock, monkeypatch: pytest.MonkeyPatch
) -> None:
    given: list[object] = []
    monkeypatch.setattr(
        creation,
        "create",
        lambda job, magic_hour, *, inline: (
            given.append(magic_hour) or creates(job, magic_hour, inline=inline)
        ),
    )
    once(clock)
    once(clock, make_submission(key=None))
    assert given == [MAGIC_HOUR, MAGIC_HOUR]


def test_the_wait_ends_exactly_at_its_limit(
    fakes: Fakes, creates: Creates, clock: Clock, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Whole-second polls, so the deadline is met exactly: the last poll is the one at the limit.
    monkeypatch.setattr(idempotency, "POLL_SECONDS", 1.0)
    fakes.store.put(existing_job(claim_in=60))
    with pytest.raises(errors.RequestInProgress):
        once(clock)
    assert len(clock.sleeps) == int(IN_PROGRESS_WAIT_SECONDS)


def test_a_key_freed_and_taken_again_meanwhile_answers_in_progress_with_the_job_id_at_the_limit(
    fakes: Fakes, creates: Creates, clock: Clock, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Every read finds no job and every write finds one (a first attempt that keeps removing and
    # rewriting it): the duplicate still gives up at the limit, naming the job.
    monkeypatch.setattr(idempotency.job_store, "get_job", lambda job_id: None)
    monkeypatch.setattr(idempotency, "submit", lambda sub, job_id, magic_hour: clock.sleep(1.0))
    with pytest.raises(errors.RequestInProgress) as refused:
        once(clock)
    assert refused.value.job_id == JOB_ID
    assert len(clock.sleeps) == int(IN_PROGRESS_WAIT_SECONDS)  # the first write counts in the wait
