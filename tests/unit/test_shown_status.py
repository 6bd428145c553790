"""Forward only as clients see it (jobs/job_view.shown_status): a job whose create is in flight is
stored `submitting`, and a 429/500/503 answer takes it back to `waiting`. So it shows `waiting`
until its create can no longer be known to have failed, and never a step back after that."""

from __future__ import annotations

from itertools import pairwise
from typing import Any

import pytest

from pipeline.jobs import job_view
from pipeline.models.job import Job, JobStatus
from pipeline.platform.settings import Settings

SENT = 1_900_000_000
SETTINGS = Settings(magic_hour_connect_timeout_seconds=5, magic_hour_read_timeout_seconds=25)
ANSWERED_BY = 5 + 25 + 5  # the create timeout and the answer's margin


@pytest.fixture(autouse=True)
def settings(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(job_view, "get_settings", lambda: SETTINGS)


def job(status: JobStatus = JobStatus.SUBMITTING, **changes: Any) -> Job:
    fields: dict[str, Any] = {
        "job_id": "job_shown",
        "client_id": "client-a",
        "tool": "ai-voice-generator",
        "kind": "audio",
        "status": status,
        "created_at": "2026-12-01T10:00:00Z",
        "updated_at": "2026-12-01T10:00:00Z",
        "create_sent_at": SENT,
    }
    return Job(**{**fields, **changes})


@pytest.mark.parametrize("after", [0, 1, ANSWERED_BY - 1])
def test_a_create_in_flight_shows_waiting(after: int) -> None:
    assert job_view.shown_status(job(), SENT + after) is JobStatus.WAITING


@pytest.mark.parametrize("after", [ANSWERED_BY, ANSWERED_BY + 1, 86400])
def test_a_create_whose_request_has_answered_or_died_shows_submitting(after: int) -> None:
    assert job_view.shown_status(job(), SENT + after) is JobStatus.SUBMITTING


def test_an_unknown_outcome_shows_submitting_at_once() -> None:
    assert job_view.shown_status(job(create_outcome_unknown=True), SENT) is JobStatus.SUBMITTING


def test_a_job_with_its_project_shows_what_it_is() -> None:
    assert job_view.shown_status(job(project_id="proj_1"), SENT) is JobStatus.SUBMITTING


@pytest.mark.parametrize("status", [s for s in JobStatus if s is not JobStatus.SUBMITTING])
def test_every_other_status_shows_as_stored(status: JobStatus) -> None:
    assert job_view.shown_status(job(status), SENT) is status


def test_a_job_stored_before_send_times_were_kept_shows_as_stored() -> None:
    assert job_view.shown_status(job(create_sent_at=None), SENT) is JobStatus.SUBMITTING


def test_a_429_answer_during_the_flight_never_shows_a_step_back() -> None:
    """The sequence a polling client saw in the fault matrix: submitting, then waiting."""
    seen = [
        job_view.shown_status(job(status=JobStatus.WAITING, create_sent_at=None), SENT - 1),
        job_view.shown_status(job(), SENT + 1),  # the create in flight
        job_view.shown_status(job(status=JobStatus.WAITING), SENT + 2),  # answered 429
    ]
    order = list(JobStatus)
    assert all(order.index(a) <= order.index(b) for a, b in pairwise(seen)), seen
