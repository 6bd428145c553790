"""One download task: copy output N of a job into S3, record it, complete the job when all are in."""

from __future__ import annotations

from pipeline.downloads.http_to_s3 import (
    DownloadRefused,
    FetchedObject,
    Transfer,
    extension_of,
    fetch_into_s3,
)
from pipeline.jobs import moves
from pipeline.magic_hour.client import MagicHourClient
from pipeline.magic_hour.credits import storable_credits
from pipeline.magic_hour.errors import MagicHourError, MagicHourNotFound
from pipeline.models.job import Job, JobError, JobStatus, StoredOutput
from pipeline.models.tasks import DownloadTask
from pipeline.platform.observability import DOWNLOADED_BYTES, DOWNLOADS, about_job, emit, logger
from pipeline.platform.redaction import for_client
from pipeline.platform.settings import get_settings
from pipeline.platform.timeutil import epoch_seconds, now_iso, parse_iso, utc_now
from pipeline.store import jobs as job_store
from pipeline.store import outputs

DOWNLOAD_FAILED = "download_failed"


class DownloadGone(Exception):
    """The output can no longer be fetched (project deleted, no such output): permanent."""


def process(task: DownloadTask, magic_hour: MagicHourClient) -> None:
    job = job_store.get_job(task.job_id)
    if job is None:
        logger.warning("download for a job that no longer exists", extra={"job_id": task.job_id})
        return
    about_job(job.job_id, job.client_id)  # every line of this task names the client too
    if task.late:
        _process_late(job, task, magic_hour)
        return
    if str(task.index) in job.outputs:
        _complete_if_done(job, magic_hour)  # a repeat, whose first delivery may have died before completing
        return
    if _redriven(job, task):
        # The dead-lettered download that failed the job, redriven after a fix: downloading again.
        revived = moves.move(
            job,
            JobStatus.DOWNLOADING,
            [JobStatus.FAILED],
            {"error": None, "failed_output_index": None, "redrive_output_index": None},
        )
        if revived is not None:
            logger.info("job revived by a redriven download", extra={"job_id": job.job_id})
            job = revived
    if job.status is not JobStatus.DOWNLOADING:
        logger.info(
            "job is not downloading; task dropped", extra={"job_id": job.job_id, "status": job.status}
        )
        return

    stored = _store(task, magic_hour)
    updated = job_store.record_output(task.job_id, stored)
    done = _complete_if_done(updated, magic_hour) if updated is not None else None
    if (
        done is not None
        and done.status is JobStatus.COMPLETED
        and get_settings().delete_project_after_download
    ):
        _delete_project(done, magic_hour)


def _store(task: DownloadTask, magic_hour: MagicHourClient) -> StoredOutput:
    fetched = _already_in_s3(task) or _fetch(task, magic_hour)
    emit(DOWNLOADS, outcome="stored")
    emit(DOWNLOADED_BYTES, fetched.size_bytes)
    logger.info(
        "output stored",
        extra={
            "job_id": task.job_id,
            "index": task.index,
            "late": task.late,
            "size_bytes": fetched.size_bytes,
            "sha256": fetched.sha256,
        },
    )
    return StoredOutput(
        index=task.index,
        s3_key=fetched.key,
        size_bytes=fetched.size_bytes,
        sha256=fetched.sha256,
        content_type=fetched.content_type,
        stored_at=now_iso(),
    )


def _process_late(job: Job, task: DownloadTask, magic_hour: MagicHourClient) -> None:
    """An output of a project completed after its job failed: stored and listed apart; the job's
    status stays what it was."""
    if job.late_project_id != task.project_id or str(task.index) in job.late_outputs:
        return
    job_store.record_late_output(task.job_id, _store(task, magic_hour))


def _redriven(job: Job, task: DownloadTask) -> bool:
    """The failing output's own message, sent back by an operator's redrive (which marks the job
    first). Any other copy of it (a retry still on the queue, a sweep's requeue) finds no mark:
    a terminal status is final unless an operator says otherwise."""
    return (
        job.status is JobStatus.FAILED
        and job.error is not None
        and job.error.code == DOWNLOAD_FAILED
        and job.failed_output_index == task.index
        and job.redrive_output_index == task.index
    )


def note_attempt(job_id: str) -> None:
    """A failed attempt that will be retried: the job's download messages are still alive."""
    job_store.note_download_attempt(job_id, epoch_seconds())


def _metadata(task: DownloadTask) -> dict[str, str]:
    return {"job-id": task.job_id, "project-id": task.project_id, "output-index": str(task.index)}


def _already_in_s3(task: DownloadTask) -> FetchedObject | None:
    """An earlier attempt stored and verified the object (its sha256 tag is only set after
    verification) but died before recording it."""
    key = outputs.output_key(task.job_id, task.project_id, task.index, extension_of(task.url, ""))
    facts = outputs.head(key)
    if facts is None or not facts.sha256:
        return None
    return FetchedObject(
        key, facts.size_bytes, facts.sha256, facts.content_type or "application/octet-stream"
    )


def _fetch(task: DownloadTask, magic_hour: MagicHourClient) -> FetchedObject:
    settings = get_settings()
    timeout = (settings.download_connect_timeout_seconds, settings.download_read_timeout_seconds)
    url = task.url
    if _expired(task.expires_at):
        url = _fresh_url(task, magic_hour)
    try:
        fetched = _fetch_url(task, url, timeout)
    except DownloadRefused:
        logger.info("download URL refused; asking Magic Hour for a fresh one", extra={"job_id": task.job_id})
        fetched = _fetch_url(task, _fresh_url(task, magic_hour), timeout)
    return fetched


def _fetch_url(task: DownloadTask, url: str, timeout: tuple[float, float]) -> FetchedObject:
    settings = get_settings()
    return fetch_into_s3(
        url,
        lambda extension: outputs.output_key(task.job_id, task.project_id, task.index, extension),
        _metadata(task),
        settings.download_allowed_hosts,
        timeout,
        Transfer(part_bytes=settings.download_chunk_bytes, parallel_ranges=settings.download_parallel_ranges),
    )


def _expired(expires_at: str | None) -> bool:
    if not expires_at:
        return False
    try:
        moment = parse_iso(expires_at)
    except ValueError:
        return False
    return moment <= utc_now()


def _fresh_url(task: DownloadTask, magic_hour: MagicHourClient) -> str:
    emit(DOWNLOADS, outcome="url_refreshed")
    try:
        project = magic_hour.get_project(task.kind, task.project_id)
    except MagicHourNotFound as exc:
        raise DownloadGone(f"project {task.project_id} is gone at Magic Hour") from exc
    downloads = project.get("downloads") or []
    if task.index >= len(downloads) or not isinstance(downloads[task.index], dict):
        raise DownloadGone(f"project {task.project_id} has no output {task.index}")
    return str(downloads[task.index]["url"])


def _complete_if_done(job: Job, magic_hour: MagicHourClient) -> Job:
    if job.status is not JobStatus.DOWNLOADING or job.output_count is None:
        return job
    if len(job.outputs) < job.output_count:
        return job
    completed = moves.move(
        job, JobStatus.COMPLETED, [JobStatus.DOWNLOADING], credits_charged=settled_charge(job, magic_hour)
    )
    if completed is not None:
        logger.info("job completed", extra={"job_id": job.job_id, "outputs": len(job.outputs)})
        return completed
    return job_store.get_job(job.job_id) or job


def settled_charge(job: Job, magic_hour: MagicHourClient) -> int | None:
    """A job that settles while Magic Hour never said what it charged (its estimate still reserved)
    reads the charge from the project; None (its estimate counts) when Magic Hour cannot tell."""
    if job.reserved_credits is None or job.counted_credits is None or job.project_id is None:
        return None
    try:
        project = magic_hour.get_project(job.kind, job.project_id)
    except MagicHourError as exc:
        logger.warning(
            "could not read a project's charge", extra={"job_id": job.job_id, "error": exc.message}
        )
        return None
    return storable_credits(project.get("credits_charged"))[0]


def _delete_project(job: Job, magic_hour: MagicHourClient) -> None:
    assert job.project_id is not None  # narrows the type; the caller checked it  # nosec B101
    try:
        magic_hour.delete_project(job.kind, job.project_id)
    except MagicHourError as exc:
        # The files are safe in S3; a leftover project only costs Magic Hour storage.
        logger.warning(
            "could not delete project at Magic Hour", extra={"job_id": job.job_id, "error": exc.message}
        )


def fail_job(job_id: str, index: int, message: str) -> None:
    job = job_store.get_job(job_id)
    if job is None:
        return
    moves.fail(
        job,
        JobError(code=DOWNLOAD_FAILED, message=for_client(message), source="download"),
        [JobStatus.DOWNLOADING],
        {"failed_output_index": index},
    )
    emit(DOWNLOADS, outcome="job_failed")
