"""What the state machine tells the operator (jobs/transitions.apply): a late project's charge
on a failed job (LateProjects, and CreditsCharged{status=failed} with its credits: what
FailedJobCreditsAlarm reads), an orphan project adopted by its name, and the log lines naming
the job and its client."""

from __future__ import annotations

import pytest
from test_state_machine import JOB_ID, PROJECT, fakes, make_job, update  # noqa: F401 - fixture by name

from pipeline.jobs import transitions
from pipeline.jobs.transitions import Outcome
from pipeline.models.job import JobError, JobStatus
from tests.fakes import Fakes, Signals, install_signals


@pytest.fixture
def signals(fakes: Fakes, monkeypatch: pytest.MonkeyPatch) -> Signals:  # noqa: F811
    return install_signals(monkeypatch, transitions)


UNCONFIRMED = JobError(code="submit_unconfirmed", message="never confirmed", source="submit")


def test_a_late_project_counts_its_credits_as_charged_on_a_failed_job(
    fakes: Fakes,  # noqa: F811
    signals: Signals,
) -> None:
    fakes.store.put(make_job(JobStatus.FAILED, project_id=None, error=UNCONFIRMED))
    assert (
        transitions.apply(update("completed", project_id="proj_late", credits_charged=450)) is Outcome.APPLIED
    )
    assert ("LateProjects", 1, {}) in signals.values
    assert ("CreditsCharged", 450.0, {"status": "failed"}) in signals.values
    assert signals.lines[0] == (
        "warning",
        "Magic Hour completed a project for a job that had already failed; storing its outputs apart",
        {"job_id": JOB_ID, "client_id": "client-a", "project_id": "proj_late", "credits_charged": 450},
    )
    assert signals.jobs == [(JOB_ID, "client-a")]


def test_a_repeat_of_a_late_project_is_not_charged_again(
    fakes: Fakes,  # noqa: F811
    signals: Signals,
) -> None:
    fakes.store.put(make_job(JobStatus.FAILED, project_id=None, error=UNCONFIRMED))
    transitions.apply(update("completed", project_id="proj_late", credits_charged=450))
    signals.values.clear()
    assert transitions.apply(update("completed", project_id="proj_late", credits_charged=450)) is (
        Outcome.ALREADY_APPLIED
    )
    assert [name for name, _, _ in signals.values if name in ("LateProjects", "CreditsCharged")] == []


def test_a_late_project_without_known_credits_counts_zero(
    fakes: Fakes,  # noqa: F811
    signals: Signals,
) -> None:
    fakes.store.put(make_job(JobStatus.FAILED, project_id=None, error=UNCONFIRMED))
    transitions.apply(update("completed", project_id="proj_late", credits_charged=None))
    assert ("CreditsCharged", 0.0, {"status": "failed"}) in signals.values


def test_a_late_project_without_downloads_is_claimed_and_queues_nothing(
    fakes: Fakes,  # noqa: F811
    signals: Signals,
) -> None:
    fakes.store.put(make_job(JobStatus.FAILED, project_id=None, error=UNCONFIRMED))
    assert transitions.apply(update("completed", project_id="proj_late", downloads=[])) is Outcome.APPLIED
    assert fakes.queues.downloads == []
    job = fakes.store.get_job(JOB_ID)
    assert job is not None
    assert job.late_project_id == "proj_late"


def test_an_orphan_project_adopted_by_its_name_is_counted_and_logged(
    fakes: Fakes,  # noqa: F811
    signals: Signals,
) -> None:
    fakes.store.put(make_job(JobStatus.SUBMITTING, project_id=None))
    assert transitions.apply(update("started")) is Outcome.APPLIED
    assert ("OrphanProjectsAttached", 1, {}) in signals.values
    assert ("info", "attached project to submitting job", {"job_id": JOB_ID}) in signals.lines


def test_an_event_for_a_job_with_its_project_adopts_nothing(
    fakes: Fakes,  # noqa: F811
    signals: Signals,
) -> None:
    fakes.store.put(make_job(JobStatus.QUEUED))
    transitions.apply(update("started"))
    assert [name for name, _, _ in signals.values if name == "OrphanProjectsAttached"] == []


def test_an_unknown_project_is_logged_with_its_id(
    fakes: Fakes,  # noqa: F811
    signals: Signals,
) -> None:
    assert (
        transitions.apply(update("started", project_id="proj_stranger", name=None)) is Outcome.UNKNOWN_PROJECT
    )
    assert signals.lines == [("info", "event for a project we do not know", {"project_id": "proj_stranger"})]
    assert signals.jobs == []


def test_a_job_adopted_meanwhile_by_another_delivery_is_read_back(
    fakes: Fakes,  # noqa: F811
    signals: Signals,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # Another delivery attached the project first: this one moves the job as stored.
    stored = make_job(JobStatus.QUEUED)
    fakes.store.put(make_job(JobStatus.SUBMITTING, project_id=None))
    monkeypatch.setattr(transitions.moves, "attach", lambda job, project_id, credits: fakes.store.put(stored))
    assert transitions.apply(update("started")) is Outcome.APPLIED
    job = fakes.store.get_job(JOB_ID)
    assert job is not None
    assert (job.status, job.project_id) == (JobStatus.RENDERING, PROJECT)
