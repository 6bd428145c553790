"""The job state machine, table-driven: what every Magic Hour event does to a job in every status
(jobs/transitions.apply), and what the reconciliation sweep does with every observation of a
project (sweep/sweep.check), with an in-memory job store and queues (tests/fakes.py)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import pytest

from pipeline.create import claims, creation
from pipeline.jobs import errors, transitions
from pipeline.jobs.transitions import Outcome, ProjectUpdate
from pipeline.magic_hour.errors import MagicHourNotFound, MagicHourUnavailable
from pipeline.models.job import Job, JobError, JobStatus, StoredOutput
from pipeline.models.webhook_events import ProjectDownload, ProjectError
from pipeline.platform import ids
from pipeline.platform.settings import Settings
from pipeline.platform.timeutil import epoch_seconds, iso, now_iso
from pipeline.sweep import sweep
from tests.fakes import FakeMagicHour, Fakes, install

JOB_ID = ids.job_id_for_idempotency_key("client-a", "state-machine")
PROJECT = "proj_main"
TAG = ids.project_name_for(JOB_ID, "clip")
CALLBACK_URL = "https://client.example/hooks/magic"
DOWNLOADS = [
    ProjectDownload(url="https://videos.magichour.ai/out-0.mp4", expires_at="2030-01-01T00:00:00Z"),
    ProjectDownload(url="https://videos.magichour.ai/out-1.mp4"),
]
SETTINGS = Settings(
    webhook_queue_wait_seconds=0.05,
    sweep_backoff_base_seconds=60,
    sweep_backoff_max_seconds=1800,
    sweep_submit_grace_seconds=900,
    sweep_download_stuck_seconds=7200,
    sweep_give_up_seconds=86400,
    create_deadline_seconds=10800,
)


@pytest.fixture
def fakes(monkeypatch: pytest.MonkeyPatch) -> Fakes:
    for module in (transitions, sweep, claims, creation):
        monkeypatch.setattr(module, "get_settings", lambda: SETTINGS)
    return install(monkeypatch)


def stored_output(index: int, job_id: str = JOB_ID) -> StoredOutput:
    return StoredOutput(
        index=index,
        s3_key=f"jobs/{job_id}/{PROJECT}/output-{index}.mp4",
        size_bytes=10,
        sha256="0" * 64,
        content_type="video/mp4",
        stored_at=now_iso(),
    )


# What a job looks like in each status, as the pipeline leaves it there.
STATUS_FIELDS: dict[JobStatus, dict[str, Any]] = {
    JobStatus.WAITING: {"fair_key": "00000001#x"},
    JobStatus.SUBMITTING: {"slot": 0},
    JobStatus.QUEUED: {"project_id": PROJECT, "slot": 0},
    JobStatus.RENDERING: {"project_id": PROJECT, "slot": 0},
    JobStatus.DOWNLOADING: {"project_id": PROJECT, "output_count": 2, "downloads_queued": True},
    JobStatus.COMPLETED: {
        "project_id": PROJECT,
        "output_count": 2,
        "outputs": {"0": stored_output(0), "1": stored_output(1)},
        "callback_state": "delivered",
    },
    JobStatus.FAILED: {
        "project_id": PROJECT,
        "error": JobError(code="gave_up", message="no progress", source="magic_hour"),
        "callback_state": "delivered",
    },
    JobStatus.CANCELED: {"project_id": PROJECT, "callback_state": "delivered"},
}


def make_job(status: JobStatus, created_at: str | None = None, **changes: Any) -> Job:
    now = now_iso()
    fields: dict[str, Any] = {
        "job_id": JOB_ID,
        "client_id": "client-a",
        "tool": "face-swap",
        "kind": "video",
        "status": status,
        "created_at": created_at or now,
        "updated_at": now,
        "callback_url": CALLBACK_URL,
        "magic_hour_name": TAG,
        **STATUS_FIELDS[status],
    }
    return Job(**{**fields, **changes})


def update(event: str, **changes: Any) -> ProjectUpdate:
    fields: dict[str, Any] = {
        "kind": "video",
        "project_id": PROJECT,
        "event": event,
        "name": TAG,
        "credits_charged": 30,
    }
    if event == "completed":
        fields["downloads"] = list(DOWNLOADS)
    if event == "errored":
        fields["error"] = ProjectError(code="invalid_video_file", message="cannot read the video")
    return ProjectUpdate(**{**fields, **changes})


EVENTS: dict[str, ProjectUpdate] = {
    "started": update("started"),
    "completed": update("completed"),
    "completed_no_downloads": update("completed", downloads=[]),
    "errored": update("errored"),
    "canceled": update("canceled"),
}


@dataclass(frozen=True)
class Expect:
    outcome: Outcome
    status: JobStatus
    writes: list[tuple[Any, ...]] = field(default_factory=list)
    # (index, late) of every download message queued
    downloads: list[tuple[int, bool]] = field(default_factory=list)
    announced: bool = False
    released: list[int] = field(default_factory=list)


ATTACH = ("attach_project", PROJECT)
QUEUED_BOTH = [(0, False), (1, False)]


def _from_active(attach: bool, slot: bool) -> dict[str, Expect]:
    """queued/rendering, and waiting/submitting (which first adopt the project named for them)."""
    first = [ATTACH] if attach else []
    released = [0] if slot else []
    return {
        "started": Expect(Outcome.APPLIED, JobStatus.RENDERING, [*first, ("transition", "rendering")]),
        "completed": Expect(
            Outcome.APPLIED,
            JobStatus.DOWNLOADING,
            [*first, ("transition", "downloading"), ("mark_downloads_queued",)],
            QUEUED_BOTH,
            released=released,
        ),
        "completed_no_downloads": Expect(
            Outcome.APPLIED,
            JobStatus.COMPLETED,
            [*first, ("transition", "completed")],
            announced=True,
            released=released,
        ),
        "errored": Expect(
            Outcome.APPLIED,
            JobStatus.FAILED,
            [*first, ("fail", "invalid_video_file", "magic_hour")],
            announced=True,
            released=released,
        ),
        "canceled": Expect(
            Outcome.APPLIED,
            JobStatus.CANCELED,
            [*first, ("transition", "canceled")],
            announced=True,
            released=released,
        ),
    }


def _nothing(status: JobStatus) -> dict[str, Expect]:
    return {event: Expect(Outcome.ALREADY_APPLIED, status) for event in EVENTS}


TABLE: dict[JobStatus, dict[str, Expect]] = {
    JobStatus.WAITING: _from_active(attach=True, slot=False),
    JobStatus.SUBMITTING: _from_active(attach=True, slot=True),
    JobStatus.QUEUED: _from_active(attach=False, slot=True),
    JobStatus.RENDERING: {
        **_from_active(attach=False, slot=True),
        "started": Expect(Outcome.ALREADY_APPLIED, JobStatus.RENDERING),
    },
    # Downloads already queued: a repeat of `completed` (or any older news) changes nothing.
    JobStatus.DOWNLOADING: _nothing(JobStatus.DOWNLOADING),
    JobStatus.COMPLETED: _nothing(JobStatus.COMPLETED),
    JobStatus.FAILED: {
        **_nothing(JobStatus.FAILED),
        # Charged although the job had failed: its outputs are stored apart, the job stays failed.
        "completed": Expect(
            Outcome.APPLIED,
            JobStatus.FAILED,
            [("claim_late_project", PROJECT)],
            [(0, True), (1, True)],
        ),
        "completed_no_downloads": Expect(
            Outcome.APPLIED, JobStatus.FAILED, [("claim_late_project", PROJECT)]
        ),
    },
    JobStatus.CANCELED: _nothing(JobStatus.CANCELED),
}


def test_the_table_covers_every_status_and_event() -> None:
    assert set(TABLE) == set(JobStatus)
    assert all(set(row) == set(EVENTS) for row in TABLE.values())


@pytest.mark.parametrize(
    ("status", "event"), [(status, event) for status in JobStatus for event in EVENTS], ids=str
)
def test_every_event_in_every_status(fakes: Fakes, status: JobStatus, event: str) -> None:
    expect = TABLE[status][event]
    fakes.store.put(make_job(status))

    assert transitions.apply(EVENTS[event]) is expect.outcome

    job = fakes.store.get_job(JOB_ID)
    assert job is not None
    assert job.status is expect.status
    assert fakes.store.writes == expect.writes
    assert [(task.index, task.late) for task in fakes.queues.downloads] == expect.downloads
    for task in fakes.queues.downloads:
        assert (task.job_id, task.project_id, task.kind) == (JOB_ID, PROJECT, "video")
        assert task.url == DOWNLOADS[task.index].url
        assert task.expires_at == DOWNLOADS[task.index].expires_at
    assert [task.job_id for task in fakes.queues.callbacks] == ([JOB_ID] if expect.announced else [])
    assert fakes.store.released_slots == expect.released
    # Every slot given back wakes the dispatcher at once, and nothing else does.
    assert fakes.queues.wakeups == [0] * len(expect.released)
    if ATTACH in expect.writes:
        assert (job.project_id, job.credits_charged) == (PROJECT, 30)
    if expect.status is JobStatus.FAILED and status is not JobStatus.FAILED:
        assert job.error == JobError(
            code="invalid_video_file", message="cannot read the video", source="magic_hour"
        )
    if expect.downloads and not expect.downloads[0][1]:
        assert (job.output_count, job.downloads_queued) == (2, True)
    if ("claim_late_project", PROJECT) in expect.writes:
        assert (job.late_project_id, job.late_credits_charged) == (PROJECT, 30)
        assert job.late_output_count == len(EVENTS[event].downloads)
        assert job.error is not None
        assert job.error.code == "gave_up"


# --- duplicates ---------------------------------------------------------------------------------


@pytest.mark.parametrize("event", list(EVENTS))
def test_a_duplicate_changes_nothing_the_first_did(fakes: Fakes, event: str) -> None:
    fakes.store.put(make_job(JobStatus.QUEUED))
    assert transitions.apply(EVENTS[event]) is Outcome.APPLIED
    writes, downloads, callbacks = (
        list(fakes.store.writes),
        list(fakes.queues.downloads),
        list(fakes.queues.callbacks),
    )
    assert transitions.apply(EVENTS[event]) is Outcome.ALREADY_APPLIED
    assert fakes.store.writes == writes
    assert fakes.queues.downloads == downloads
    assert fakes.queues.callbacks == callbacks
    assert fakes.store.released_slots == ([] if event == "started" else [0])


def test_a_repeat_of_completed_finishes_queueing_after_the_first_delivery_died(fakes: Fakes) -> None:
    # The first delivery moved the job to downloading, then died before queueing; its lease ran out.
    fakes.store.put(make_job(JobStatus.DOWNLOADING, downloads_queued=False), lease_until=epoch_seconds() - 1)
    assert transitions.apply(EVENTS["completed"]) is Outcome.APPLIED
    assert fakes.store.writes == [("claim_queueing",), ("mark_downloads_queued",)]
    assert [(task.index, task.late) for task in fakes.queues.downloads] == QUEUED_BOTH


def test_a_repeat_of_completed_while_another_delivery_holds_the_lease_asks_for_a_retry(fakes: Fakes) -> None:
    fakes.store.put(make_job(JobStatus.DOWNLOADING, downloads_queued=False), lease_until=epoch_seconds() + 30)
    with pytest.raises(errors.DeliveryInProgress):
        transitions.apply(EVENTS["completed"])
    assert fakes.store.writes == []
    assert fakes.queues.downloads == []


def test_a_failed_queue_send_gives_the_lease_back_and_leaves_downloads_unqueued(fakes: Fakes) -> None:
    fakes.store.put(make_job(JobStatus.RENDERING))
    fakes.queues.fail_download_send = True
    with pytest.raises(Exception, match="SQS refused"):
        transitions.apply(EVENTS["completed"])
    job = fakes.store.get_job(JOB_ID)
    assert job is not None
    assert (job.status, job.downloads_queued) == (JobStatus.DOWNLOADING, False)
    assert fakes.store.writes == [("transition", "downloading"), ("release_queueing",)]
    assert JOB_ID not in fakes.store.leases
    # The sender's retry now takes over at once (no lease to wait out).
    fakes.queues.fail_download_send = False
    assert transitions.apply(EVENTS["completed"]) is Outcome.APPLIED
    assert [(task.index, task.late) for task in fakes.queues.downloads] == QUEUED_BOTH


def test_a_late_duplicate_queues_only_the_late_outputs_not_stored_yet(fakes: Fakes) -> None:
    fakes.store.put(
        make_job(
            JobStatus.FAILED,
            late_project_id=PROJECT,
            late_output_count=2,
            late_outputs={"0": stored_output(0)},
        )
    )
    assert transitions.apply(EVENTS["completed"]) is Outcome.ALREADY_APPLIED
    assert fakes.store.writes == []
    assert [(task.index, task.late) for task in fakes.queues.downloads] == [(1, True)]


def test_a_late_duplicate_with_every_output_stored_queues_nothing(fakes: Fakes) -> None:
    fakes.store.put(
        make_job(
            JobStatus.FAILED,
            late_project_id=PROJECT,
            late_output_count=2,
            late_outputs={"0": stored_output(0), "1": stored_output(1)},
        )
    )
    assert transitions.apply(EVENTS["completed"]) is Outcome.ALREADY_APPLIED
    assert fakes.queues.downloads == []


def test_a_job_failed_by_its_download_takes_no_late_outputs(fakes: Fakes) -> None:
    failed = JobError(code="download_failed", message="gone", source="download")
    fakes.store.put(make_job(JobStatus.FAILED, error=failed))
    assert transitions.apply(EVENTS["completed"]) is Outcome.ALREADY_APPLIED
    assert fakes.store.writes == []
    assert fakes.queues.downloads == []


def test_an_errored_event_without_an_error_fails_the_job_with_a_default(fakes: Fakes) -> None:
    fakes.store.put(make_job(JobStatus.RENDERING))
    assert transitions.apply(update("errored", error=None)) is Outcome.APPLIED
    job = fakes.store.get_job(JOB_ID)
    assert job is not None
    assert job.error is not None
    assert (job.error.code, job.error.source) == ("unknown_error", "magic_hour")
    assert job.error.message == "Magic Hour could not render the job"


# --- finding the job: name tag and project id -------------------------------------------------------


def test_without_a_name_the_job_is_found_by_its_project(fakes: Fakes) -> None:
    fakes.store.put(make_job(JobStatus.QUEUED))
    assert transitions.apply(update("started", name=None)) is Outcome.APPLIED
    assert fakes.store.writes == [("transition", "rendering")]


def test_an_unknown_project_changes_nothing(fakes: Fakes) -> None:
    fakes.store.put(make_job(JobStatus.QUEUED))
    assert (
        transitions.apply(update("completed", project_id="proj_other", name=None)) is Outcome.UNKNOWN_PROJECT
    )
    assert fakes.store.writes == []
    assert fakes.queues.downloads == []


def test_an_event_of_another_kind_is_an_unknown_project(fakes: Fakes) -> None:
    fakes.store.put(make_job(JobStatus.QUEUED))
    assert transitions.apply(update("completed", kind="image")) is Outcome.UNKNOWN_PROJECT
    assert fakes.store.writes == []
    assert fakes.queues.downloads == []


@pytest.mark.parametrize("status", [JobStatus.QUEUED, JobStatus.RENDERING, JobStatus.DOWNLOADING])
def test_the_name_tag_never_rewrites_a_job_that_has_a_project(fakes: Fakes, status: JobStatus) -> None:
    # Another project whose name carries this job's id (a second create that looked lost).
    fakes.store.put(make_job(status))
    assert transitions.apply(update("completed", project_id="proj_second")) is Outcome.UNKNOWN_PROJECT
    job = fakes.store.get_job(JOB_ID)
    assert job is not None
    assert (job.status, job.project_id) == (status, PROJECT)
    assert fakes.store.writes == []
    assert fakes.queues.downloads == []


def test_the_name_tag_gives_a_failed_job_without_a_project_its_late_outputs(fakes: Fakes) -> None:
    unconfirmed = JobError(code="submit_unconfirmed", message="never confirmed", source="submit")
    fakes.store.put(make_job(JobStatus.FAILED, project_id=None, error=unconfirmed))
    assert transitions.apply(update("completed", project_id="proj_late")) is Outcome.APPLIED
    job = fakes.store.get_job(JOB_ID)
    assert job is not None
    assert (job.status, job.project_id, job.late_project_id) == (JobStatus.FAILED, None, "proj_late")
    assert [(task.project_id, task.index, task.late) for task in fakes.queues.downloads] == [
        ("proj_late", 0, True),
        ("proj_late", 1, True),
    ]
    assert fakes.queues.callbacks == []


def test_only_one_late_project_per_failed_job(fakes: Fakes) -> None:
    unconfirmed = JobError(code="submit_unconfirmed", message="never confirmed", source="submit")
    fakes.store.put(make_job(JobStatus.FAILED, project_id=None, error=unconfirmed, late_project_id="proj_a"))
    assert transitions.apply(update("completed", project_id="proj_b")) is Outcome.ALREADY_APPLIED
    assert fakes.store.writes == []
    assert fakes.queues.downloads == []


def test_a_name_tag_for_a_job_that_does_not_exist_falls_back_to_the_project(fakes: Fakes) -> None:
    fakes.store.put(make_job(JobStatus.QUEUED))
    stranger = ids.project_name_for(ids.job_id_for_idempotency_key("client-b", "x"), "clip")
    assert transitions.apply(update("started", name=stranger)) is Outcome.APPLIED
    assert fakes.store.writes == [("transition", "rendering")]


# --- the sweep ------------------------------------------------------------------------------------


def project(status: str, **changes: Any) -> dict[str, Any]:
    body: dict[str, Any] = {"id": PROJECT, "status": status, "name": TAG, "credits_charged": 30}
    if status == "complete":
        body["downloads"] = [download.model_dump() for download in DOWNLOADS]
    if status == "error":
        body["error"] = {"code": "invalid_video_file", "message": "cannot read the video"}
    return {**body, **changes}


OBSERVATIONS: dict[str, dict[str, Any] | Exception] = {
    "queued": project("queued"),
    "rendering": project("rendering"),
    "complete": project("complete"),
    "error": project("error"),
    "canceled": project("canceled"),
    "404": MagicHourNotFound("no such project", 404),
    "down": MagicHourUnavailable("Magic Hour answered 503", 503),
}


@dataclass(frozen=True)
class SweepExpect:
    result: str  # the outcome check() returns, or the exception it raises
    status: JobStatus
    writes: list[tuple[Any, ...]] = field(default_factory=list)
    downloads: list[tuple[int, bool]] = field(default_factory=list)
    announced: bool = False


def _sweep_row(status: JobStatus) -> dict[str, SweepExpect]:
    recovered = {
        "complete": SweepExpect(
            "recovered_completed",
            JobStatus.DOWNLOADING,
            [("transition", "downloading"), ("mark_downloads_queued",)],
            QUEUED_BOTH,
        ),
        "error": SweepExpect(
            "recovered_errored",
            JobStatus.FAILED,
            [("fail", "invalid_video_file", "magic_hour")],
            announced=True,
        ),
        "canceled": SweepExpect(
            "recovered_canceled", JobStatus.CANCELED, [("transition", "canceled")], announced=True
        ),
    }
    return {
        "queued": SweepExpect("unchanged", status),
        "rendering": (
            SweepExpect("recovered_started", JobStatus.RENDERING, [("transition", "rendering")])
            if status is JobStatus.QUEUED
            else SweepExpect("unchanged", status)
        ),
        **recovered,
        "404": SweepExpect(
            "project_not_found",
            JobStatus.FAILED,
            [("fail", "project_not_found", "magic_hour")],
            announced=True,
        ),
        "down": SweepExpect("MagicHourUnavailable", status),
    }


SWEEP_TABLE: dict[JobStatus, dict[str, SweepExpect]] = {
    JobStatus.QUEUED: _sweep_row(JobStatus.QUEUED),
    JobStatus.RENDERING: _sweep_row(JobStatus.RENDERING),
    # Downloads queued and not stuck: whatever Magic Hour says, the downloader is at work.
    JobStatus.DOWNLOADING: {
        **{name: SweepExpect("downloading", JobStatus.DOWNLOADING) for name in OBSERVATIONS},
        "404": SweepExpect(
            "project_not_found",
            JobStatus.FAILED,
            [("fail", "project_not_found", "magic_hour")],
            announced=True,
        ),
        "down": SweepExpect("MagicHourUnavailable", JobStatus.DOWNLOADING),
    },
}


def run_check(fakes: Fakes, job: Job, observation: str, now: int | None = None) -> str:
    fakes.store.put(job)
    magic_hour = FakeMagicHour(OBSERVATIONS[observation])
    try:
        return sweep.check(job, now or epoch_seconds(), magic_hour)  # type: ignore[arg-type]
    except Exception as exc:
        return type(exc).__name__


@pytest.mark.parametrize(
    ("status", "observation"),
    [(status, observation) for status in SWEEP_TABLE for observation in OBSERVATIONS],
    ids=str,
)
def test_the_sweep_applies_every_observation_in_every_status(
    fakes: Fakes, status: JobStatus, observation: str
) -> None:
    expect = SWEEP_TABLE[status][observation]
    assert run_check(fakes, make_job(status), observation) == expect.result
    job = fakes.store.get_job(JOB_ID)
    assert job is not None
    assert job.status is expect.status
    assert fakes.store.writes == expect.writes
    assert [(task.index, task.late) for task in fakes.queues.downloads] == expect.downloads
    assert [task.job_id for task in fakes.queues.callbacks] == ([JOB_ID] if expect.announced else [])
    # A job the sweep did not settle is looked at again later.
    assert (JOB_ID in fakes.store.postponed) == (expect.result in ("unchanged", "downloading"))


@pytest.mark.parametrize("status", [JobStatus.COMPLETED, JobStatus.FAILED, JobStatus.CANCELED])
@pytest.mark.parametrize("observation", list(OBSERVATIONS))
def test_the_sweep_never_asks_magic_hour_about_an_ended_job(
    fakes: Fakes, status: JobStatus, observation: str
) -> None:
    job = make_job(status)
    fakes.store.put(job)
    magic_hour = FakeMagicHour(OBSERVATIONS[observation])
    assert sweep.check(job, epoch_seconds(), magic_hour) == "callback_in_flight"  # type: ignore[arg-type]
    assert magic_hour.asked == []
    assert fakes.store.writes == []
    assert fakes.store.get_job(JOB_ID) == job


@pytest.mark.parametrize("status", [JobStatus.WAITING, JobStatus.SUBMITTING])
@pytest.mark.parametrize("observation", list(OBSERVATIONS))
def test_the_sweep_never_asks_magic_hour_about_a_job_without_a_project(
    fakes: Fakes, status: JobStatus, observation: str
) -> None:
    job = make_job(status)
    fakes.store.put(job)
    magic_hour = FakeMagicHour(OBSERVATIONS[observation])
    expected = "waiting" if status is JobStatus.WAITING else "waiting_for_project"
    assert sweep.check(job, epoch_seconds(), magic_hour) == expected  # type: ignore[arg-type]
    assert magic_hour.asked == []
    assert fakes.store.writes == []


def test_the_sweep_asks_for_the_jobs_own_project(fakes: Fakes) -> None:
    magic_hour = FakeMagicHour(project("queued"))
    job = make_job(JobStatus.QUEUED)
    fakes.store.put(job)
    sweep.check(job, epoch_seconds(), magic_hour)  # type: ignore[arg-type]
    assert magic_hour.asked == [("video", PROJECT)]


# --- age thresholds ---------------------------------------------------------------------------------


def created_ago(seconds: int, now: int) -> str:
    from datetime import UTC, datetime

    return iso(datetime.fromtimestamp(now - seconds, UTC))


GIVE_UP_SOURCE = {
    JobStatus.WAITING: "submit",
    JobStatus.SUBMITTING: "submit",
    JobStatus.QUEUED: "magic_hour",
    JobStatus.RENDERING: "magic_hour",
    JobStatus.DOWNLOADING: "download",
}


@pytest.mark.parametrize("status", list(GIVE_UP_SOURCE))
def test_a_job_quiet_for_longer_than_give_up_fails_whatever_magic_hour_says(
    fakes: Fakes, status: JobStatus
) -> None:
    now = epoch_seconds()
    ago = created_ago(SETTINGS.sweep_give_up_seconds + 1, now)
    job = make_job(status, created_at=ago, updated_at=ago, create_sent_at=now)
    assert run_check(fakes, job, "rendering", now) == "gave_up"
    stored = fakes.store.get_job(JOB_ID)
    assert stored is not None
    assert stored.error is not None
    assert (stored.status, stored.error.code, stored.error.source) == (
        JobStatus.FAILED,
        "gave_up",
        GIVE_UP_SOURCE[status],
    )
    assert [task.job_id for task in fakes.queues.callbacks] == [JOB_ID]


@pytest.mark.parametrize("status", list(GIVE_UP_SOURCE))
def test_a_job_quiet_for_exactly_give_up_is_not_given_up_yet(fakes: Fakes, status: JobStatus) -> None:
    now = epoch_seconds()
    ago = created_ago(SETTINGS.sweep_give_up_seconds, now)
    job = make_job(status, created_at=ago, updated_at=ago)
    assert run_check(fakes, job, "queued", now) != "gave_up"
    stored = fakes.store.get_job(JOB_ID)
    assert stored is not None
    # (A submitting job without a project is long past its grace by then: submit_unconfirmed.)
    assert stored.error is None or stored.error.code != "gave_up"


@pytest.mark.parametrize("status", list(GIVE_UP_SOURCE))
def test_an_old_job_that_just_moved_is_not_given_up(fakes: Fakes, status: JobStatus) -> None:
    # Waited a day for a slot, then created: Magic Hour renders (and charges) it now.
    now = epoch_seconds()
    job = make_job(
        status, created_at=created_ago(3 * SETTINGS.sweep_give_up_seconds, now), create_sent_at=now
    )
    assert run_check(fakes, job, "queued", now) != "gave_up"
    stored = fakes.store.get_job(JOB_ID)
    assert stored is not None
    assert stored.status is status


def test_a_submitting_job_without_a_project_waits_out_the_grace(fakes: Fakes) -> None:
    now = epoch_seconds()
    sent = now - SETTINGS.sweep_submit_grace_seconds + 1
    job = make_job(
        JobStatus.SUBMITTING,
        created_at=created_ago(10 * SETTINGS.sweep_submit_grace_seconds, now),
        create_sent_at=sent,
    )
    assert run_check(fakes, job, "complete", now) == "waiting_for_project"
    assert fakes.store.writes == []
    assert JOB_ID in fakes.store.postponed


def test_a_submitting_job_without_a_project_fails_unconfirmed_at_the_grace(fakes: Fakes) -> None:
    now = epoch_seconds()
    job = make_job(JobStatus.SUBMITTING, create_sent_at=now - SETTINGS.sweep_submit_grace_seconds)
    assert run_check(fakes, job, "complete", now) == "submit_unconfirmed"
    assert fakes.store.writes == [("fail", "submit_unconfirmed", "submit")]
    assert fakes.store.released_slots == [0]
    assert fakes.queues.wakeups == [0]
    assert [task.job_id for task in fakes.queues.callbacks] == [JOB_ID]


def test_a_submitting_job_stored_without_a_send_time_counts_the_grace_from_its_move(fakes: Fakes) -> None:
    now = epoch_seconds()
    old = created_ago(10 * SETTINGS.sweep_submit_grace_seconds, now)
    fresh = make_job(JobStatus.SUBMITTING, created_at=old, updated_at=created_ago(1, now))
    assert run_check(fakes, fresh, "complete", now) == "waiting_for_project"
    stale = make_job(
        JobStatus.SUBMITTING, created_at=old, updated_at=created_ago(SETTINGS.sweep_submit_grace_seconds, now)
    )
    assert run_check(fakes, stale, "complete", now) == "submit_unconfirmed"


def test_a_job_waiting_only_for_our_slot_is_not_bound_by_the_create_deadline(fakes: Fakes) -> None:
    now = epoch_seconds()
    job = make_job(JobStatus.WAITING, created_at=created_ago(SETTINGS.create_deadline_seconds + 60, now))
    assert run_check(fakes, job, "queued", now) == "waiting"
    assert fakes.store.writes == []


@pytest.mark.parametrize(
    ("last_error", "code"),
    [("upstream_rate_limited", "upstream_rate_limited"), (None, "upstream_unavailable")],
)
def test_a_job_magic_hour_refused_fails_at_the_create_deadline(
    fakes: Fakes, last_error: str | None, code: str
) -> None:
    now = epoch_seconds()
    job = make_job(
        JobStatus.WAITING,
        created_at=created_ago(SETTINGS.create_deadline_seconds, now),
        create_attempts=4,
        last_create_error=last_error,
    )
    assert run_check(fakes, job, "queued", now) == "create_deadline_passed"
    assert fakes.store.writes == [("fail", code, "submit")]
    stored = fakes.store.get_job(JOB_ID)
    assert stored is not None
    assert stored.error is not None
    assert "4 attempts" in stored.error.message


def test_a_job_magic_hour_refused_waits_until_the_create_deadline(fakes: Fakes) -> None:
    now = epoch_seconds()
    job = make_job(
        JobStatus.WAITING,
        created_at=created_ago(SETTINGS.create_deadline_seconds - 1, now),
        create_attempts=4,
        last_create_error="upstream_rate_limited",
    )
    assert run_check(fakes, job, "queued", now) == "waiting"
    assert fakes.store.writes == []


def test_downloads_never_queued_are_queued_by_the_sweep(fakes: Fakes) -> None:
    job = make_job(JobStatus.DOWNLOADING, downloads_queued=False, outputs={"0": stored_output(0)})
    fakes.store.put(job, lease_until=epoch_seconds() - 1)
    assert sweep.check(job, epoch_seconds(), FakeMagicHour(project("complete"))) == "downloads_requeued"  # type: ignore[arg-type]
    assert fakes.store.writes == [("claim_queueing",), ("mark_downloads_queued",)]
    assert [(task.index, task.late) for task in fakes.queues.downloads] == [(1, False)]


def test_downloads_being_queued_by_a_live_delivery_are_left_to_it(fakes: Fakes) -> None:
    job = make_job(JobStatus.DOWNLOADING, downloads_queued=False)
    fakes.store.put(job, lease_until=epoch_seconds() + 30)
    assert sweep.check(job, epoch_seconds(), FakeMagicHour(project("complete"))) == "downloading"  # type: ignore[arg-type]
    assert fakes.store.writes == []
    assert fakes.queues.downloads == []


@pytest.mark.parametrize(
    ("quiet_for", "requeued"),
    [(SETTINGS.sweep_download_stuck_seconds - 1, []), (SETTINGS.sweep_download_stuck_seconds, [1])],
)
def test_a_quiet_download_is_requeued_once_it_is_stuck(
    fakes: Fakes, quiet_for: int, requeued: list[int]
) -> None:
    now = epoch_seconds()
    job = make_job(
        JobStatus.DOWNLOADING, outputs={"0": stored_output(0)}, updated_at=created_ago(quiet_for, now)
    )
    result = run_check(fakes, job, "complete", now)
    assert result == ("downloads_requeued" if requeued else "downloading")
    assert [task.index for task in fakes.queues.downloads] == requeued
    assert fakes.store.writes == ([("mark_downloads_queued",)] if requeued else [])


def test_a_download_whose_message_still_retries_is_not_requeued(fakes: Fakes) -> None:
    # Quiet since its move, but an attempt failed (and will be retried) a minute ago: a second
    # copy of the message could revive the job after the first one failed it.
    now = epoch_seconds()
    job = make_job(
        JobStatus.DOWNLOADING,
        outputs={"0": stored_output(0)},
        updated_at=created_ago(SETTINGS.sweep_download_stuck_seconds + 60, now),
        download_attempted_at=now - 60,
    )
    assert run_check(fakes, job, "complete", now) == "downloading"
    assert fakes.queues.downloads == []
    later = now + SETTINGS.sweep_download_stuck_seconds - 60
    assert run_check(fakes, job, "complete", later) == "downloads_requeued"  # it then went quiet


def test_a_stuck_download_with_every_output_stored_queues_nothing(fakes: Fakes) -> None:
    now = epoch_seconds()
    job = make_job(
        JobStatus.DOWNLOADING,
        outputs={"0": stored_output(0), "1": stored_output(1)},
        updated_at=created_ago(SETTINGS.sweep_download_stuck_seconds + 60, now),
    )
    assert run_check(fakes, job, "complete", now) == "downloading"
    assert fakes.queues.downloads == []


@pytest.mark.parametrize(("checks", "delay"), [(0, 60), (1, 120), (2, 240), (4, 960), (5, 1800), (30, 1800)])
def test_the_sweep_backs_off_a_job_that_does_not_move(fakes: Fakes, checks: int, delay: int) -> None:
    now = epoch_seconds()
    run_check(fakes, make_job(JobStatus.QUEUED, sweep_checks=checks), "queued", now)
    assert fakes.store.postponed[JOB_ID] == (now + delay, checks + 1)


# --- callbacks owed by ended jobs -------------------------------------------------------------------


def test_an_ended_job_whose_callback_was_never_queued_gets_it_queued(fakes: Fakes) -> None:
    job = make_job(JobStatus.COMPLETED, callback_state="pending", callback_queued=False)
    assert run_check(fakes, job, "complete") == "callback_queued"
    assert [task.webhook_id for task in fakes.queues.callbacks] == [f"msg_{JOB_ID}_completed"]


def test_an_ended_job_whose_callback_outlived_its_queue_is_given_up(fakes: Fakes) -> None:
    now = epoch_seconds()
    job = make_job(
        JobStatus.FAILED,
        callback_state="pending",
        callback_queued=True,
        updated_at=created_ago(sweep.CALLBACK_SETTLE_SECONDS + 1, now),
    )
    assert run_check(fakes, job, "complete", now) == "callback_abandoned"
    assert fakes.store.writes == [("record_callback_attempt", "failed")]
    assert fakes.queues.callbacks == []


def test_an_ended_job_whose_callback_is_in_flight_is_left_alone(fakes: Fakes) -> None:
    now = epoch_seconds()
    job = make_job(
        JobStatus.FAILED,
        callback_state="pending",
        callback_queued=True,
        updated_at=created_ago(sweep.CALLBACK_SETTLE_SECONDS - 60, now),
    )
    assert run_check(fakes, job, "complete", now) == "callback_in_flight"
    assert fakes.store.writes == []
    assert fakes.queues.callbacks == []


# --- what mutation testing showed unguarded --------------------------------------------------------


def test_a_job_completed_without_outputs_records_that_it_has_none(fakes: Fakes) -> None:
    fakes.store.put(make_job(JobStatus.RENDERING, output_count=None))
    assert transitions.apply(EVENTS["completed_no_downloads"]) is Outcome.APPLIED
    job = fakes.store.get_job(JOB_ID)
    assert job is not None
    assert (job.status, job.output_count) == (JobStatus.COMPLETED, 0)


def test_moving_to_downloading_takes_the_queueing_lease(
    fakes: Fakes, monkeypatch: pytest.MonkeyPatch
) -> None:
    fakes.store.put(make_job(JobStatus.RENDERING, downloads_queued=True))

    # Recording "queued" fails after the messages went out (DynamoDB down): the lease stays held.
    def broken(job_id: str) -> None:
        raise RuntimeError("DynamoDB down")

    monkeypatch.setattr(transitions.job_store, "mark_downloads_queued", broken)
    with pytest.raises(RuntimeError):
        transitions.apply(EVENTS["completed"])
    job = fakes.store.get_job(JOB_ID)
    assert job is not None
    assert (job.status, job.downloads_queued) == (JobStatus.DOWNLOADING, False)
    assert fakes.store.leases[JOB_ID] >= epoch_seconds() + transitions.QUEUE_LEASE_SECONDS - 1
    # So a duplicate right away waits for the lease instead of queueing everything a second time.
    with pytest.raises(errors.DeliveryInProgress):
        transitions.apply(EVENTS["completed"])
    assert len(fakes.queues.downloads) == 2


def test_a_repeat_of_completed_waits_for_the_other_delivery_to_finish(
    fakes: Fakes, monkeypatch: pytest.MonkeyPatch
) -> None:
    fakes.store.put(make_job(JobStatus.DOWNLOADING, downloads_queued=False), lease_until=epoch_seconds() + 30)
    real_claim = fakes.store.claim_queueing

    def other_delivery_finishes(job_id: str, lease_seconds: int) -> bool:
        taken = real_claim(job_id, lease_seconds)
        fakes.store.jobs[job_id] = fakes.store.jobs[job_id].model_copy(update={"downloads_queued": True})
        return taken

    monkeypatch.setattr(transitions.job_store, "claim_queueing", other_delivery_finishes)
    assert transitions.apply(EVENTS["completed"]) is Outcome.ALREADY_APPLIED
    assert fakes.queues.downloads == []


def test_a_late_duplicate_without_downloads_is_already_applied(fakes: Fakes) -> None:
    fakes.store.put(make_job(JobStatus.FAILED, late_project_id=PROJECT, late_output_count=0))
    assert transitions.apply(EVENTS["completed_no_downloads"]) is Outcome.ALREADY_APPLIED
    assert fakes.store.writes == []


def test_the_sweep_postpones_a_job_the_transition_did_not_move(
    fakes: Fakes, monkeypatch: pytest.MonkeyPatch
) -> None:
    now = epoch_seconds()
    monkeypatch.setattr(sweep.transitions, "apply", lambda update: Outcome.ALREADY_APPLIED)
    assert run_check(fakes, make_job(JobStatus.QUEUED, sweep_checks=1), "complete", now) == "unchanged"
    assert fakes.store.postponed[JOB_ID] == (now + 120, 2)


def test_an_ended_job_whose_callback_is_exactly_at_the_queues_retention_is_left_alone(fakes: Fakes) -> None:
    now = epoch_seconds()
    job = make_job(
        JobStatus.FAILED,
        callback_state="pending",
        callback_queued=True,
        updated_at=created_ago(sweep.CALLBACK_SETTLE_SECONDS, now),
    )
    assert run_check(fakes, job, "complete", now) == "callback_in_flight"


def test_an_abandoned_callback_says_why(fakes: Fakes) -> None:
    now = epoch_seconds()
    job = make_job(
        JobStatus.FAILED,
        callback_state="pending",
        callback_queued=True,
        updated_at=created_ago(sweep.CALLBACK_SETTLE_SECONDS + 1, now),
    )
    run_check(fakes, job, "complete", now)
    stored = fakes.store.get_job(JOB_ID)
    assert stored is not None
    assert (stored.callback_state, stored.callback_last_error) == (
        "failed",
        "callback delivery never settled",
    )


def test_moves_pass_their_extra_fields_to_the_store(fakes: Fakes) -> None:
    from pipeline.jobs import moves

    fakes.store.put(make_job(JobStatus.RENDERING))
    error = JobError(code="x", message="y", source="magic_hour")
    assert moves.fail(make_job(JobStatus.RENDERING), error, [JobStatus.RENDERING], {"output_count": 3})
    stored = fakes.store.get_job(JOB_ID)
    assert stored is not None
    assert (stored.status, stored.output_count) == (JobStatus.FAILED, 3)


def test_waking_the_dispatcher_never_fails_the_move(fakes: Fakes, monkeypatch: pytest.MonkeyPatch) -> None:
    from pipeline.jobs import moves

    def down(delay_seconds: int = 0) -> None:
        raise RuntimeError("SQS down")

    monkeypatch.setattr(moves.dispatch_queue, "send_wakeup", down)
    fakes.store.put(make_job(JobStatus.RENDERING))
    assert transitions.apply(EVENTS["canceled"]) is Outcome.APPLIED
    assert fakes.store.released_slots == [0]
