"""What every move writes for the sweep, the client's callback and the slot pool
(jobs/bookkeeping.py), table-driven; and that moves hand exactly that to the job store."""

from __future__ import annotations

from typing import Any

import pytest

from pipeline.create import claims
from pipeline.jobs import bookkeeping, moves
from pipeline.models.job import Bookkeeping, Job, JobError, JobStatus
from pipeline.platform.settings import Settings
from tests.fakes import Fakes, install

NOW = 1_800_000_000
QUIET = 240
CALLBACK_URL = "https://client.example/hooks/magic"
WATCH = {"next_check_at": NOW + QUIET, "sweep_checks": 0}
CALLBACK_OWED = {"callback_state": "pending", "callback_attempts": 0, "callback_queued": False}
STOP_WATCHING = ("next_check_at",)
ALL_STATUSES = list(JobStatus)


@pytest.fixture(autouse=True)
def quiet(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(bookkeeping, "get_settings", lambda: Settings(sweep_quiet_seconds=QUIET))


def _job(status: JobStatus, callback_url: str | None = None, slot: int | None = None) -> Job:
    return Job(
        job_id="job_bookkeeping",
        client_id="client-a",
        tool="text-to-video",
        kind="video",
        status=status,
        created_at="2026-12-01T10:00:00.000Z",
        updated_at="2026-12-01T10:00:00.000Z",
        callback_url=callback_url,
        callback_state="pending" if callback_url else None,
        slot=slot,
    )


@pytest.mark.parametrize(
    ("to", "callback_url", "expected"),
    [
        # Still in progress: watched again from now, backing off afresh; no callback is owed yet,
        # whether or not the job has a callback URL.
        *[
            (to, url, Bookkeeping(sets=WATCH))
            for to in JobStatus
            if not to.is_terminal and to is not JobStatus.SUBMITTING
            for url in (None, CALLBACK_URL)
        ],
        # The move to `submitting` is the create being sent: the sweep's grace for it starts now.
        *[
            (JobStatus.SUBMITTING, url, Bookkeeping(sets={**WATCH, "create_sent_at": NOW}))
            for url in (None, CALLBACK_URL)
        ],
        # Ended without a callback: nothing left to watch (its check count is left as it was).
        *[(to, None, Bookkeeping(removes=STOP_WATCHING)) for to in JobStatus if to.is_terminal],
        # Ended with one: one fresh callback is owed, and watched until it settles.
        *[
            (to, CALLBACK_URL, Bookkeeping(sets={**WATCH, **CALLBACK_OWED}))
            for to in JobStatus
            if to.is_terminal
        ],
    ],
)
def test_a_move_tells_the_sweep_when_to_look_and_whether_a_callback_is_owed(
    to: JobStatus, callback_url: str | None, expected: Bookkeeping
) -> None:
    for status in ALL_STATUSES:
        assert bookkeeping.for_move(_job(status, callback_url), to, NOW) == expected


@pytest.mark.parametrize(
    ("to", "releases"),
    [
        (JobStatus.WAITING, True),
        (JobStatus.SUBMITTING, False),
        (JobStatus.QUEUED, False),
        (JobStatus.RENDERING, False),
        (JobStatus.DOWNLOADING, True),
        (JobStatus.COMPLETED, True),
        (JobStatus.FAILED, True),
        (JobStatus.CANCELED, True),
    ],
)
def test_a_job_gives_back_its_slot_when_it_leaves_the_statuses_magic_hour_renders_in(
    to: JobStatus, releases: bool
) -> None:
    assert bookkeeping.for_move(_job(JobStatus.RENDERING, slot=3), to, NOW).release_slot is releases
    # A job that holds no slot has none to give back.
    assert bookkeeping.for_move(_job(JobStatus.RENDERING), to, NOW).release_slot is False


def test_a_new_job_is_first_looked_at_once_it_has_been_quiet() -> None:
    assert bookkeeping.first_check_at(NOW) == NOW + QUIET


@pytest.mark.parametrize(
    ("outcome", "expected"),
    [
        ("delivered", Bookkeeping(removes=STOP_WATCHING)),
        ("failed", Bookkeeping(removes=STOP_WATCHING)),
        ("pending", Bookkeeping()),
    ],
)
def test_a_settled_callback_leaves_the_sweep_nothing_to_watch(outcome: str, expected: Bookkeeping) -> None:
    assert bookkeeping.for_callback_attempt(outcome) == expected


# --- what moves hand to the job store -------------------------------------------------------------


@pytest.fixture
def fakes(monkeypatch: pytest.MonkeyPatch) -> Fakes:
    monkeypatch.setattr(moves, "epoch_seconds", lambda: NOW)
    return install(monkeypatch)


def _stored(fakes: Fakes, **fields: Any) -> Job:
    job = _job(JobStatus.RENDERING, **fields)
    fakes.store.put(job)
    fakes.store.next_checks[job.job_id] = NOW - 1
    return job


def test_a_job_that_ends_without_a_callback_leaves_the_sweeps_index(fakes: Fakes) -> None:
    job = _stored(fakes, slot=2)
    moved = moves.move(job, JobStatus.CANCELED, [JobStatus.RENDERING])
    assert moved is not None
    assert moved.slot is None
    assert fakes.store.next_checks == {}
    assert fakes.store.released_slots == [2]
    assert fakes.queues.wakeups == [0]  # the slot given back wakes the dispatcher


def test_a_job_that_fails_with_a_callback_stays_watched_until_its_callback_settles(fakes: Fakes) -> None:
    job = _stored(fakes, callback_url=CALLBACK_URL)
    moved = moves.fail(job, JobError(code="boom", message="boom", source="magic_hour"), [JobStatus.RENDERING])
    assert moved is not None
    assert (moved.callback_state, moved.callback_attempts) == ("pending", 0)
    assert fakes.store.next_checks == {job.job_id: NOW + QUIET}
    assert [task.job_id for task in fakes.queues.callbacks] == [job.job_id]

    moves.callback_state.give_up(job.job_id, "never answered")
    assert fakes.store.next_checks == {}


def test_an_adopted_project_is_watched_from_the_adoption(fakes: Fakes) -> None:
    job = _job(JobStatus.SUBMITTING).model_copy(update={"sweep_checks": 7})
    fakes.store.put(job)
    moved = moves.attach(job, "proj_adopted", 30)
    assert moved is not None
    assert moved.sweep_checks == 0
    assert fakes.store.next_checks == {job.job_id: NOW + QUIET}


@pytest.mark.parametrize("slot", [None, 3])
def test_a_claimed_job_is_watched_from_its_claim_with_or_without_a_slot(
    fakes: Fakes, slot: int | None
) -> None:
    # A job that waited long has backed off far; once claimed for its create, the sweep must look
    # at it as at any job that just moved (a create that never answers is the sweep's to settle).
    job = _job(JobStatus.WAITING).model_copy(update={"sweep_checks": 7})
    fakes.store.put(job)
    fakes.store.next_checks[job.job_id] = NOW + 6 * 3600
    claimed = claims.claim(job, slot)
    assert claimed is not None
    assert (claimed.status, claimed.slot, claimed.sweep_checks) == (JobStatus.SUBMITTING, slot, 0)
    assert fakes.store.next_checks == {job.job_id: NOW + QUIET}
