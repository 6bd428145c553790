"""What each Magic Hour answer to a create means for the job (create/creation.py), with fakes at the
job-store and Magic Hour seams."""

from __future__ import annotations

from typing import Any

import pytest

from pipeline.create import creation
from pipeline.magic_hour.client import CreatedProject
from pipeline.magic_hour.errors import (
    MagicHourAuthFailed,
    MagicHourError,
    MagicHourKeyUnavailable,
    MagicHourOutcomeUnknown,
    MagicHourPaymentRequired,
    MagicHourRateLimited,
    MagicHourRejected,
    MagicHourUnavailable,
)
from pipeline.models.job import Job, JobStatus
from pipeline.platform.settings import Settings
from pipeline.platform.timeutil import now_iso
from tests.fakes import FakeMagicHour


class Recorder:
    """Stands in for jobs/moves and the job store: records what creation asked for."""

    def __init__(self) -> None:
        self.calls: list[tuple[str, Any]] = []
        self.streak = 0

    def move(self, job: Job, to: JobStatus, allowed: Any, sets: dict[str, Any] | None = None) -> Job:
        self.calls.append(("move", (to, list(allowed), sets)))
        return job.model_copy(update={"status": to, **(sets or {})})

    def fail(self, job: Job, error: Any, allowed: Any, sets: Any = None) -> Job:
        self.calls.append(("fail", (error.code, error.source, list(allowed))))
        return job.model_copy(update={"status": JobStatus.FAILED, "error": error})

    def attach(self, job: Job, project_id: str, credits: int | None) -> Job:
        self.calls.append(("attach", (project_id, credits)))
        return job.model_copy(update={"status": JobStatus.QUEUED, "project_id": project_id})

    def set_hold(self, until: int, streak: int) -> None:
        self.streak = streak
        self.calls.append(("hold", streak))

    def wake(self, delay: int = 0) -> None:
        self.calls.append(("wake", delay))

    def delete(self, job: Job, changes: tuple[Any, ...] = ()) -> None:
        self.calls.append(("delete", job.job_id))

    def kinds(self) -> list[str]:
        return [kind for kind, _ in self.calls]


@pytest.fixture
def recorder(monkeypatch: pytest.MonkeyPatch) -> Recorder:
    rec = Recorder()
    monkeypatch.setattr(creation.moves, "move", rec.move)
    monkeypatch.setattr(creation.moves, "fail", rec.fail)
    monkeypatch.setattr(creation.moves, "attach", rec.attach)
    monkeypatch.setattr(creation.moves, "wake_dispatcher", rec.wake)
    monkeypatch.setattr(creation.job_store, "delete_submitting_job", rec.delete)
    monkeypatch.setattr(creation.job_store, "get_job", lambda job_id: None)
    monkeypatch.setattr(creation.fair_queue, "next_round_for", lambda client_id: 7)
    monkeypatch.setattr(creation.fair_queue, "hold", lambda: (0, rec.streak))
    monkeypatch.setattr(creation.fair_queue, "set_hold", rec.set_hold)
    monkeypatch.setattr(creation.fair_queue, "clear_hold", lambda: rec.calls.append(("clear_hold", None)))
    settings = Settings(create_retry_delays_seconds=[2, 10, 60], create_deadline_seconds=3600)
    monkeypatch.setattr(creation, "get_settings", lambda: settings)
    return rec


def _job(**changes: Any) -> Job:
    now = now_iso()
    fields: dict[str, Any] = {
        "job_id": "job_aaaaaaaaaaaaaaaaaaaaaaaaaa",
        "client_id": "client-a",
        "tool": "ai-voice-generator",
        "kind": "audio",
        "status": JobStatus.SUBMITTING,
        "created_at": now,
        "updated_at": now,
        "magic_hour_name": "voice [job_aaaaaaaaaaaaaaaaaaaaaaaaaa]",
        "input": {"style": {"prompt": "hi"}},
    }
    return Job(**{**fields, **changes})


def test_a_created_project_is_attached_and_the_body_carries_the_name_tag(recorder: Recorder) -> None:
    magic_hour = FakeMagicHour(CreatedProject("proj_1", 12))
    job = creation.create(_job(), magic_hour, inline=True)  # type: ignore[arg-type]
    assert job.status is JobStatus.QUEUED
    # Magic Hour had room: a pause left by an earlier refusal ends.
    assert recorder.calls == [("clear_hold", None), ("attach", ("proj_1", 12))]
    assert magic_hour.bodies == [
        {"style": {"prompt": "hi"}, "name": "voice [job_aaaaaaaaaaaaaaaaaaaaaaaaaa]"}
    ]


@pytest.mark.parametrize(
    ("error", "code"),
    [
        (MagicHourRejected("bad input", 422), "upstream_rejected"),
        (MagicHourRejected("bad input", 400), "upstream_rejected"),
        (MagicHourPaymentRequired("no credits", 402), "insufficient_credits"),
        (MagicHourError("conflict", 409), "upstream_rejected"),
    ],
)
def test_a_refused_create_fails_the_job_from_submitting(
    recorder: Recorder, error: Exception, code: str
) -> None:
    job = creation.create(_job(), FakeMagicHour(error), inline=True)  # type: ignore[arg-type]
    assert job.status is JobStatus.FAILED
    assert recorder.calls == [("fail", (code, "submit", [JobStatus.SUBMITTING]))]


@pytest.mark.parametrize(
    "error", [MagicHourOutcomeUnknown("timeout"), MagicHourOutcomeUnknown("bad gateway", 502)]
)
def test_an_unknown_outcome_changes_nothing_and_is_never_retried(
    recorder: Recorder, error: Exception
) -> None:
    job = creation.create(_job(), FakeMagicHour(error), inline=False)  # type: ignore[arg-type]
    assert job.status is JobStatus.SUBMITTING
    assert recorder.calls == []


@pytest.mark.parametrize(
    ("error", "code", "delay"),
    [
        (MagicHourRateLimited("slow down", 1), "upstream_rate_limited", 2),
        (MagicHourRateLimited("slow down", 30), "upstream_rate_limited", 30),
        (MagicHourUnavailable("down", 503), "upstream_unavailable", 2),
        (MagicHourUnavailable("down", 500), "upstream_unavailable", 2),
    ],
)
def test_nothing_created_means_waiting_and_a_pause_for_every_create(
    recorder: Recorder, error: Exception, code: str, delay: int
) -> None:
    job = creation.create(_job(), FakeMagicHour(error), inline=True)  # type: ignore[arg-type]
    assert job.status is JobStatus.WAITING
    hold, (kind, (to, allowed, sets)), wake = recorder.calls
    assert hold == ("hold", 1)
    assert (kind, to, allowed) == ("move", JobStatus.WAITING, [JobStatus.SUBMITTING])
    assert sets["create_attempts"] == 1
    assert sets["last_create_error"] == code
    assert sets["fair_key"].startswith("000000000007#")
    assert wake == ("wake", delay)


def test_the_pause_grows_with_refusals_in_a_row_and_the_last_delay_repeats(recorder: Recorder) -> None:
    waits = []
    for attempts in range(5):
        recorder.calls.clear()
        creation.create(
            _job(create_attempts=attempts, fair_key="k"),
            FakeMagicHour(MagicHourUnavailable("down", 503)),  # type: ignore[arg-type]
            inline=False,
        )
        waits.append(recorder.calls[-1][1])
        assert recorder.calls[1][1][2]["fair_key"] == "k"  # a job keeps its place in the queue
    assert waits == [2, 10, 60, 60, 60]
    assert recorder.streak == 5


def test_past_the_deadline_the_job_fails_with_the_last_reason(recorder: Recorder) -> None:
    old = _job(created_at="2020-01-01T00:00:00.000Z", create_attempts=3)
    job = creation.create(old, FakeMagicHour(MagicHourRateLimited("slow down", 1)), inline=False)  # type: ignore[arg-type]
    assert job.status is JobStatus.FAILED
    assert recorder.calls == [("fail", ("upstream_rate_limited", "submit", [JobStatus.SUBMITTING]))]


@pytest.mark.parametrize(
    ("error", "code"),
    [
        (MagicHourAuthFailed("no", 401), "upstream_misconfigured"),
        (MagicHourKeyUnavailable("x"), "service_unavailable"),
    ],
)
def test_inline_our_own_failure_removes_the_job_and_says_so(
    recorder: Recorder, error: Exception, code: str
) -> None:
    with pytest.raises(creation.CreateNotSent) as caught:
        creation.create(_job(), FakeMagicHour(error), inline=True)  # type: ignore[arg-type]
    assert caught.value.code == code
    assert recorder.kinds() == ["delete"]


def test_in_the_dispatcher_a_rejected_key_waits_for_the_operator(recorder: Recorder) -> None:
    job = creation.create(_job(), FakeMagicHour(MagicHourAuthFailed("no", 401)), inline=False)  # type: ignore[arg-type]
    assert job.status is JobStatus.WAITING
    assert recorder.calls[1][1][2]["last_create_error"] == "upstream_misconfigured"
