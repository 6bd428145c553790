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

from pipeline import ids
from pipeline.dal import download_queue
from pipeline.dal import jobs as job_store
from pipeline.logic import callbacks
from pipeline.models.job import Job, JobError, JobStatus, Kind
from pipeline.models.tasks import DownloadTask
from pipeline.models.webhook_events import ProjectDownload, ProjectError
from pipeline.observability import logger, metrics
from pipeline.settings import get_settings

ProjectEvent = Literal["started", "completed", "errored", "canceled"]
# The error of a job whose create never became known within the grace period (see logic/sweep.py).
SUBMIT_UNCONFIRMED = "submit_unconfirmed"
# How long one sender may hold the right to queue a job's downloads before another may take over.
QUEUE_LEASE_SECONDS = 30
_WAIT_POLL_SECONDS = 0.1


class Outcome(StrEnum):
    APPLIED = "applied"
    ALREADY_APPLIED = "already_applied"
    UNKNOWN_PROJECT = "unknown_project"


class RetryLater(Exception):
    """The job is mid-way through another delivery's change; answer so that the sender retries."""


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


def _unconfirmed(job: Job) -> bool:
    return (
        job.status is JobStatus.FAILED
        and job.project_id is None
        and job.error is not None
        and job.error.code == SUBMIT_UNCONFIRMED
    )


def apply(update: ProjectUpdate) -> Outcome:
    job = find_job(update)
    if job is None or job.kind != update.kind:
        metrics.add_metric(name="UnknownProjectEvents", unit="Count", value=1)
        logger.info("event for a project we do not know", extra={"project_id": update.project_id})
        return Outcome.UNKNOWN_PROJECT

    if job.status is JobStatus.SUBMITTING or _unconfirmed(job):
        # Submit crashed (or timed out) after Magic Hour created the project: adopt it now, also
        # when the sweep already gave up waiting (the project is real and charged, so its outputs
        # are worth having).
        adopted = job_store.attach_project(job, update.project_id, update.credits_charged)
        if adopted is not None:
            metrics.add_metric(name="OrphanProjectsAttached", unit="Count", value=1)
            logger.info("attached project to submitting job", extra={"job_id": job.job_id})
        job = adopted or job_store.get_job(job.job_id) or job

    if update.event == "started":
        moved = job_store.transition(job, JobStatus.RENDERING, [JobStatus.QUEUED])
    elif update.event == "errored":
        error = update.error or ProjectError()
        moved = job_store.fail(
            job,
            JobError(
                code=error.code,
                message=error.message or "Magic Hour could not render the job",
                source="magic_hour",
            ),
            [JobStatus.QUEUED, JobStatus.RENDERING],
        )
    elif update.event == "canceled":
        moved = job_store.transition(job, JobStatus.CANCELED, [JobStatus.QUEUED, JobStatus.RENDERING])
    else:
        return _start_downloads(job, update)
    return _outcome(moved)


def _outcome(moved: Job | None) -> Outcome:
    if moved is None:
        return Outcome.ALREADY_APPLIED
    if moved.status.is_terminal:
        callbacks.announce_end(moved)
    return Outcome.APPLIED


def _start_downloads(job: Job, update: ProjectUpdate) -> Outcome:
    if not update.downloads:
        moved = job_store.transition(
            job, JobStatus.COMPLETED, [JobStatus.QUEUED, JobStatus.RENDERING], {"output_count": 0}
        )
        return _outcome(moved)
    moved = job_store.transition(
        job,
        JobStatus.DOWNLOADING,
        [JobStatus.QUEUED, JobStatus.RENDERING],
        {
            "output_count": len(update.downloads),
            "downloads_queued": False,
            "queue_lease_until": int(time.time()) + QUEUE_LEASE_SECONDS,
        },
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
            raise RetryLater(f"downloads of job {job_id} are being queued by another delivery")
        time.sleep(_WAIT_POLL_SECONDS)


def requeue_missing(job: Job, downloads: list[ProjectDownload]) -> int:
    """Queue again the outputs of a downloading job that are not stored yet (their messages were
    lost, or dead-lettered and not redriven). The downloader skips what is already stored."""
    missing = [index for index in range(len(downloads)) if str(index) not in job.outputs]
    if missing:
        download_queue.send_download_tasks(_tasks(job, downloads, missing))
        job_store.mark_downloads_queued(job.job_id)
        metrics.add_metric(name="DownloadsRequeued", unit="Count", value=len(missing))
    return len(missing)


def _tasks(job: Job, downloads: list[ProjectDownload], indexes: list[int]) -> list[DownloadTask]:
    assert job.project_id is not None
    return [
        DownloadTask(
            job_id=job.job_id,
            project_id=job.project_id,
            kind=job.kind,
            index=index,
            url=downloads[index].url,
            expires_at=downloads[index].expires_at,
        )
        for index in indexes
    ]


def _queue(job: Job, update: ProjectUpdate) -> None:
    tasks = _tasks(job, update.downloads, list(range(len(update.downloads))))
    try:
        download_queue.send_download_tasks(tasks)
    except Exception:
        # Let the sender's retry take over at once instead of waiting out the lease.
        job_store.release_queueing(job.job_id)
        raise
    job_store.mark_downloads_queued(job.job_id)
    metrics.add_metric(name="DownloadsQueued", unit="Count", value=len(tasks))
