"""How what Magic Hour says about a project moves our job: one set of rules, used by the webhook
(and by anything else that learns a project's state, such as the reconciliation sweep).

Every move is a conditional write from named statuses, so duplicates and late, out-of-order news
are no-ops, and concurrent deliveries of the same event cannot both act.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Literal

from pipeline.jobs import budgets, moves, reservations
from pipeline.jobs.errors import DeliveryInProgress
from pipeline.magic_hour import rates
from pipeline.models.job import Bookkeeping, Job, JobError, JobStatus, Kind
from pipeline.models.tasks import DownloadTask
from pipeline.models.webhook_events import ProjectDownload, ProjectError
from pipeline.platform import ids
from pipeline.platform.observability import (
    CREDITS_CHARGED,
    DOWNLOAD_TASKS,
    LATE_PROJECTS,
    ORPHAN_PROJECTS_ATTACHED,
    about_job,
    emit,
    logger,
)
from pipeline.platform.settings import get_settings
from pipeline.platform.timeutil import epoch_seconds
from pipeline.store import download_queue
from pipeline.store import jobs as job_store

ProjectEvent = Literal["started", "completed", "errored", "canceled"]
# The error of a job whose create never became known within the grace period (see sweep/sweep.py).
SUBMIT_UNCONFIRMED = "submit_unconfirmed"
# How long one sender may hold the right to queue a job's downloads before another may take over.
QUEUE_LEASE_SECONDS = 30
_WAIT_POLL_SECONDS = 0.1


class Outcome(StrEnum):
    APPLIED = "applied"
    ALREADY_APPLIED = "already_applied"
    UNKNOWN_PROJECT = "unknown_project"


@dataclass(frozen=True)
class ProjectUpdate:
    kind: Kind
    project_id: str
    event: ProjectEvent
    name: str | None = None
    credits_charged: int | None = None
    downloads: list[ProjectDownload] = field(default_factory=list)
    error: ProjectError | None = None


def find_job(update: ProjectUpdate) -> Job | None:
    """Our job for a project: by the job id in the project name (strongly consistent, and the
    only way to find a job whose project id we never recorded), else by project id."""
    job_id = ids.job_id_from_project_name(update.name)
    if job_id is not None:
        job = job_store.get_job(job_id)
        if job is not None and job.project_id in (None, update.project_id):
            return job
    return job_store.find_job_by_project(update.project_id)


def apply(update: ProjectUpdate) -> Outcome:
    job = find_job(update)
    if job is None or job.kind != update.kind:
        logger.info("event for a project we do not know", extra={"project_id": update.project_id})
        return Outcome.UNKNOWN_PROJECT
    about_job(job.job_id, job.client_id)

    if job.status.is_terminal:
        # A terminal status is final. A project Magic Hour completed for a job that had already
        # failed (its create looked lost, or the sweep gave up) is still charged: keep its outputs.
        if update.event == "completed" and _may_have_late_outputs(job, update):
            return _late_project(job, update)
        return Outcome.ALREADY_APPLIED

    if job.status in (JobStatus.SUBMITTING, JobStatus.WAITING):
        # Submit crashed, timed out or got a 502/504 after Magic Hour created the project: adopt it
        # now. Only a job still waiting for its project may be adopted (the name tag alone never
        # reopens or rewrites a job that has one).
        adopted = moves.attach(job, update.project_id, update.credits_charged)
        if adopted is not None:
            emit(ORPHAN_PROJECTS_ATTACHED)
            logger.info("attached project to submitting job", extra={"job_id": job.job_id})
        job = adopted or job_store.get_job(job.job_id) or job
        if job.status.is_terminal:
            return Outcome.ALREADY_APPLIED

    if update.event == "started":
        moved = moves.move(
            job, JobStatus.RENDERING, [JobStatus.QUEUED], credits_charged=update.credits_charged
        )
    elif update.event == "errored":
        error = update.error or ProjectError()
        moved = moves.fail(
            job,
            JobError(
                code=error.code,
                message=error.message or "Magic Hour could not render the job",
                source="magic_hour",
            ),
            [JobStatus.QUEUED, JobStatus.RENDERING],
        )
    elif update.event == "canceled":
        moved = moves.move(
            job,
            JobStatus.CANCELED,
            [JobStatus.QUEUED, JobStatus.RENDERING],
            credits_charged=update.credits_charged,
        )
    else:
        return _start_downloads(job, update)
    return _outcome(moved)


def _outcome(moved: Job | None) -> Outcome:
    return Outcome.ALREADY_APPLIED if moved is None else Outcome.APPLIED


def _may_have_late_outputs(job: Job, update: ProjectUpdate) -> bool:
    """A failed job whose own outputs were never being downloaded, and a project that is its own
    (or, for a job that never learnt its project id, one whose name carries the job id)."""
    if job.status is not JobStatus.FAILED or (job.error is not None and job.error.source == "download"):
        return False
    if job.late_project_id is not None:
        return job.late_project_id == update.project_id
    return job.project_id in (None, update.project_id)


def _late_project(job: Job, update: ProjectUpdate) -> Outcome:
    # Charged: it counts in the same write, unless the job's own charge still does.
    ledger = reservations.late_project(
        job, update.credits_charged, rates.estimate_credits(job.tool, job.input), budgets.utc_today()
    )
    claimed = job_store.claim_late_project(
        job,
        update.project_id,
        update.credits_charged,
        len(update.downloads),
        reservations.apply(Bookkeeping(), job, ledger),
    )
    if claimed is not None:
        emit(LATE_PROJECTS)
        emit(CREDITS_CHARGED, float(update.credits_charged or 0), status="failed")
        logger.warning(
            "Magic Hour completed a project for a job that had already failed; storing its outputs apart",
            extra={
                "job_id": job.job_id,
                "client_id": job.client_id,
                "project_id": update.project_id,
                "credits_charged": update.credits_charged,
            },
        )
    current = claimed or job_store.get_job(job.job_id)
    if current is None or not update.downloads:
        return Outcome.APPLIED if claimed is not None else Outcome.ALREADY_APPLIED
    # Also on a repeat: the first delivery may have died before queueing (the downloader skips
    # what is stored).
    missing = [i for i in range(len(update.downloads)) if str(i) not in current.late_outputs]
    if missing:
        download_queue.send_download_tasks(
            _tasks(current, update.project_id, update.downloads, missing, late=True)
        )
    return Outcome.APPLIED if claimed is not None else Outcome.ALREADY_APPLIED


def _start_downloads(job: Job, update: ProjectUpdate) -> Outcome:
    if not update.downloads:
        moved = moves.move(
            job,
            JobStatus.COMPLETED,
            [JobStatus.QUEUED, JobStatus.RENDERING],
            {"output_count": 0},
            credits_charged=update.credits_charged,
        )
        return _outcome(moved)
    moved = moves.move(
        job,
        JobStatus.DOWNLOADING,
        [JobStatus.QUEUED, JobStatus.RENDERING],
        {
            "output_count": len(update.downloads),
            "downloads_queued": False,
            "queue_lease_until": epoch_seconds() + QUEUE_LEASE_SECONDS,
        },
        credits_charged=update.credits_charged,
    )
    if moved is not None:
        _queue(moved, update)
        return Outcome.APPLIED
    return _ensure_queued(job.job_id, update)


def _ensure_queued(job_id: str, update: ProjectUpdate) -> Outcome:
    """A repeat of `completed`: fine once the first delivery finished queueing. If that delivery
    died between its two writes, its lease runs out and this one finishes the work."""
    deadline = time.monotonic() + get_settings().webhook_queue_wait_seconds
    while True:
        job = job_store.get_job(job_id)
        if job is None or job.status is not JobStatus.DOWNLOADING or job.downloads_queued:
            return Outcome.ALREADY_APPLIED
        if job_store.claim_queueing(job_id, QUEUE_LEASE_SECONDS):
            logger.warning("re-queueing downloads after an interrupted delivery", extra={"job_id": job_id})
            _queue(job, update)
            return Outcome.APPLIED
        if time.monotonic() >= deadline:
            raise DeliveryInProgress(f"downloads of job {job_id} are being queued by another delivery")
        time.sleep(_WAIT_POLL_SECONDS)


def requeue_missing(job: Job, downloads: list[ProjectDownload]) -> int:
    """Queue again the outputs of a downloading job that are not stored yet (their messages were
    lost, or dead-lettered and not redriven). The downloader skips what is already stored."""
    missing = [index for index in range(len(downloads)) if str(index) not in job.outputs]
    if missing:
        assert job.project_id is not None  # narrows the type; a downloading job has its project  # nosec B101
        download_queue.send_download_tasks(_tasks(job, job.project_id, downloads, missing))
        job_store.mark_downloads_queued(job.job_id)
        emit(DOWNLOAD_TASKS, len(missing), outcome="requeued")
    return len(missing)


def _tasks(
    job: Job, project_id: str, downloads: list[ProjectDownload], indexes: list[int], late: bool = False
) -> list[DownloadTask]:
    return [
        DownloadTask(
            job_id=job.job_id,
            project_id=project_id,
            kind=job.kind,
            index=index,
            url=downloads[index].url,
            expires_at=downloads[index].expires_at,
            late=late,
        )
        for index in indexes
    ]


def _queue(job: Job, update: ProjectUpdate) -> None:
    tasks = _tasks(job, update.project_id, update.downloads, list(range(len(update.downloads))))
    try:
        download_queue.send_download_tasks(tasks)
    except Exception:
        # Let the sender's retry take over at once instead of waiting out the lease.
        job_store.release_queueing(job.job_id)
        raise
    job_store.mark_downloads_queued(job.job_id)
    emit(DOWNLOAD_TASKS, len(tasks), outcome="queued")
