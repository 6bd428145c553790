"""What the sweep records when it acts on a job (sweep/sweep.check): the error a client reads on a
job it failed, and the project facts it hands the state machine when it recovers a missed
webhook (the credits charged are money: they must come from Magic Hour's answer)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest
from test_state_machine import JOB_ID, PROJECT, SETTINGS, TAG, make_job, project

from pipeline.create import claims, creation
from pipeline.jobs import transitions
from pipeline.magic_hour.errors import MagicHourNotFound
from pipeline.models.job import JobStatus
from pipeline.platform.timeutil import epoch_seconds, iso
from pipeline.sweep import sweep
from tests.fakes import FakeMagicHour, Fakes, install


@pytest.fixture
def fakes(monkeypatch: pytest.MonkeyPatch) -> Fakes:
    for module in (transitions, sweep, claims, creation):
        monkeypatch.setattr(module, "get_settings", lambda: SETTINGS)
    return install(monkeypatch)


def _aged(seconds: int) -> str:
    return iso(datetime.fromtimestamp(epoch_seconds() - seconds, UTC))


def _error_after(fakes: Fakes, job: Any, answer: Any) -> tuple[str, str, str]:
    fakes.store.put(job)
    sweep.check(job, epoch_seconds(), FakeMagicHour(answer))  # type: ignore[arg-type]
    stored = fakes.store.get_job(JOB_ID)
    assert stored is not None
    assert stored.status is JobStatus.FAILED
    assert stored.error is not None
    return stored.error.code, stored.error.message, stored.error.source


def test_an_unconfirmed_create_fails_saying_it_was_not_sent_again(fakes: Fakes) -> None:
    sent = epoch_seconds() - SETTINGS.sweep_submit_grace_seconds - 5
    job = make_job(JobStatus.SUBMITTING, project_id=None, create_sent_at=sent)
    assert _error_after(fakes, job, project("queued")) == (
        "submit_unconfirmed",
        "Magic Hour never confirmed the project for this job; it was not submitted again",
        "submit",
    )


def test_a_project_gone_at_magic_hour_fails_the_job_saying_so(fakes: Fakes) -> None:
    job = make_job(JobStatus.RENDERING)
    assert _error_after(fakes, job, MagicHourNotFound("Not Found", 404)) == (
        "project_not_found",
        "the project no longer exists at Magic Hour",
        "magic_hour",
    )


def test_a_job_the_sweep_gives_up_on_says_for_how_long(fakes: Fakes) -> None:
    age = SETTINGS.sweep_give_up_seconds + 10
    job = make_job(JobStatus.RENDERING, created_at=_aged(age), updated_at=_aged(age))
    code, message, source = _error_after(fakes, job, project("rendering"))
    assert (code, source) == ("gave_up", "magic_hour")
    # The time since its last move, to the second (the clock may tick once while the test runs).
    assert message in {
        f"the job made no progress for {seconds} s; the sweep gave up on it" for seconds in (age, age + 1)
    }


@pytest.fixture
def handed(monkeypatch: pytest.MonkeyPatch) -> list[transitions.ProjectUpdate]:
    """What the sweep hands the state machine (which answers that it applied it)."""
    updates: list[transitions.ProjectUpdate] = []
    monkeypatch.setattr(
        transitions, "apply", lambda update: updates.append(update) or transitions.Outcome.APPLIED
    )
    return updates


def test_a_recovered_project_hands_over_magic_hours_facts(
    fakes: Fakes, handed: list[transitions.ProjectUpdate]
) -> None:
    job = make_job(JobStatus.QUEUED)
    fakes.store.put(job)
    answer = project("rendering", credits_charged=450, name="clip [tag from magic hour]")
    assert sweep.check(job, epoch_seconds(), FakeMagicHour(answer)) == "recovered_started"  # type: ignore[arg-type]
    (update,) = handed
    assert (update.project_id, update.event, update.credits_charged) == (PROJECT, "started", 450)
    assert update.name == "clip [tag from magic hour]"


def test_a_project_without_a_name_is_matched_by_the_jobs_own_tag(
    fakes: Fakes, handed: list[transitions.ProjectUpdate]
) -> None:
    job = make_job(JobStatus.QUEUED)
    fakes.store.put(job)
    sweep.check(job, epoch_seconds(), FakeMagicHour(project("rendering", name=None)))  # type: ignore[arg-type]
    assert handed[0].name == TAG
