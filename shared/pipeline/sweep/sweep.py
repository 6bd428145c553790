"""Reconciliation: nothing stays stuck. Webhooks get lost, a canceled project sends none, and a
crash can leave a job between two writes; the sweep asks Magic Hour and applies what it learns
through the same transitions the webhook uses."""

from __future__ import annotations

import time
from dataclasses import dataclass, field

from pipeline.jobs import callback_state, moves, transitions
from pipeline.magic_hour.client import MagicHourClient
from pipeline.magic_hour.credits import storable_credits
from pipeline.magic_hour.errors import MagicHourError, MagicHourNotFound
from pipeline.models.job import Job, JobError, JobStatus, failure_source
from pipeline.models.webhook_events import ProjectDownload, ProjectError
from pipeline.platform.observability import (
    SWEEP_CHECKS,
    SWEEP_OVERDUE,
    SWEEP_RUNS,
    about_job,
    about_job_in_thread,
    emit,
    logger,
)
from pipeline.platform.settings import get_settings
from pipeline.platform.time_budget import TimeBudget, magic_hour_step_ms
from pipeline.platform.timeutil import epoch_of
from pipeline.store import jobs as job_store
from pipeline.store.due_checks import DueCheck
from pipeline.sweep import sweep_batch, sweep_lease, waiting_watch
from pipeline.sweep.slot_reclaim import reclaim_stale_slots

# What a project's status at Magic Hour means for our job (statuses without an entry mean "wait").
_EVENT_FOR_STATUS: dict[str, transitions.ProjectEvent] = {
    "rendering": "started",
    "complete": "completed",
    "error": "errored",
    "canceled": "canceled",
}


# The callback queue keeps a message 2 days (template.yaml); past that plus a margin, a callback
# still `pending` has no message left to deliver it.
CALLBACK_SETTLE_SECONDS = 2 * 86400 + 3600


@dataclass
class SweepReport:
    checked: int = 0
    outcomes: dict[str, int] = field(default_factory=dict)
    # Why the sweep stopped early, if it did: "overlap" (another sweep holds the lease) or
    # "time" (too little of the invocation left for one more Magic Hour call), or "lease" (it
    # outlived its lease and another sweep took over).
    stopped: str | None = None
    # How long the oldest check this run left undone had been due (0: it did all that was due).
    oldest_overdue_seconds: int = 0
    # How long its checks took, reading the index included (checked / seconds: its capacity).
    seconds: float = 0.0

    def count(self, outcome: str) -> None:
        self.outcomes[outcome] = self.outcomes.get(outcome, 0) + 1


SWEEP_LEASE = "sweep"


def run(
    now: int,
    magic_hour: MagicHourClient,
    budget: TimeBudget | None = None,
    holder: str = "sweep",
) -> SweepReport:
    """Check every job that is due, fairly between clients, while there is time for another check
    (pipeline/logic/sweep_batch.py says how).

    `budget` is the invocation's time (Lambda's longest without one): a check starts only while
    a whole one fits. The lease, renewed before each check (sweep_lease.py), keeps a slow sweep and
    the next scheduled one apart.
    """
    report = SweepReport()
    time_left = budget or TimeBudget.fixed()
    needed = magic_hour_step_ms()
    lease = sweep_lease.HeldLease(SWEEP_LEASE, holder, sweep_lease.lease_seconds(needed, time_left.left_ms()))
    if not lease.acquire():
        logger.warning("another sweep is still running; this one does nothing")
        report.stopped = "overlap"
        emit(SWEEP_RUNS, outcome="overlap")
        return report
    try:

        def counted(outcome: str) -> None:
            report.checked += 1
            report.count(outcome)
            emit(SWEEP_CHECKS, outcome=outcome)

        batch = sweep_batch.Batch(
            now,
            lambda entry, at: check_entry(entry, at, magic_hour),
            counted,
            lambda: lease.keep() and time_left.fits(needed),
        )
        began = time.monotonic()
        batch.run()
        report.seconds = round(time.monotonic() - began, 2)
        if batch.stopped:
            logger.warning("sweep stopped before its timeout", extra={"checked": report.checked})
            report.stopped = "lease" if lease.lost else batch.stopped
            emit(SWEEP_RUNS, outcome="cut_short")
        report.oldest_overdue_seconds = batch.oldest_overdue_seconds()
        emit(SWEEP_OVERDUE, report.oldest_overdue_seconds)
        reclaimed = reclaim_stale_slots()
        if reclaimed:
            report.outcomes["slots_reclaimed"] = reclaimed
        if job_store.waiting_jobs(1):
            moves.wake_dispatcher()  # a lost wake-up never leaves a job waiting for ever
    finally:
        about_job(None)
        lease.release()
    return report


def check_entry(entry: DueCheck, now: int, magic_hour: MagicHourClient) -> str:
    """One check of the batch, on the job as it is now; never raises (one bad job must not stop
    the sweep: it is logged and looked at again later)."""
    job = None
    about_job_in_thread(entry.job_id, entry.client_id)
    try:
        job = job_store.get_job(entry.job_id)
        if job is None:
            return "vanished"
        return check(job, now, magic_hour)
    except MagicHourError as exc:
        logger.warning(
            "Magic Hour unavailable for the sweep",
            extra={"job_id": entry.job_id, "client_id": entry.client_id, "error": exc.message},
        )
        outcome = "magic_hour_unavailable"
    except Exception:
        logger.exception(
            "sweep could not check a job", extra={"job_id": entry.job_id, "client_id": entry.client_id}
        )
        outcome = "error"
    if job is not None:
        try:
            _postpone(job, now)
        except Exception:
            logger.exception("sweep could not postpone a job", extra={"job_id": entry.job_id})
    return outcome


def check(job: Job, now: int, magic_hour: MagicHourClient) -> str:
    settings = get_settings()
    if job.status.is_terminal:
        return _owed_callback(job, now)
    # "No progress for X", from the job's last move, never its age: a job that waited a day for a
    # slot and was just created is rendering (and charged), not stuck.
    quiet_for = now - epoch_of(job.updated_at)
    if quiet_for > settings.sweep_give_up_seconds:
        return _give_up(job, quiet_for)
    if job.status is JobStatus.WAITING:
        return waiting_watch.check(job, now)
    if job.status is JobStatus.SUBMITTING and job.project_id is None:
        # The grace runs from when the create was sent (the claim that sent it), so a job that
        # waited an hour for a slot gets all of it; jobs stored before create_sent_at existed
        # count from their move to `submitting`.
        sent_at = job.create_sent_at if job.create_sent_at is not None else epoch_of(job.updated_at)
        if now - sent_at < settings.sweep_submit_grace_seconds:
            _postpone(job, now)
            return "waiting_for_project"
        # The create's outcome never became known and no webhook named this job: it is never
        # submitted again (that could charge twice); the caller gets a clear failure instead.
        moves.fail(
            job,
            JobError(
                code=transitions.SUBMIT_UNCONFIRMED,
                message="Magic Hour never confirmed the project for this job; it was not submitted again",
                source="submit",
            ),
            [JobStatus.SUBMITTING],
        )
        return "submit_unconfirmed"
    assert job.project_id is not None  # narrows the type; the branch above returned without one  # nosec B101
    try:
        project = magic_hour.get_project(job.kind, job.project_id)
    except MagicHourNotFound:
        return _fail(job, "project_not_found", "the project no longer exists at Magic Hour", "magic_hour")
    status = str(project.get("status") or "")
    downloads = [
        ProjectDownload.model_validate(d) for d in project.get("downloads") or [] if isinstance(d, dict)
    ]
    if job.status is JobStatus.DOWNLOADING:
        return _downloading(job, now, downloads)
    event = _EVENT_FOR_STATUS.get(status)
    if event is None or (event == "started" and job.status is not JobStatus.QUEUED):
        _postpone(job, now)
        return "unchanged"
    raw_error = project.get("error")
    update = transitions.ProjectUpdate(
        kind=job.kind,
        project_id=job.project_id,
        event=event,
        name=project.get("name") or job.magic_hour_name,
        credits_charged=storable_credits(project.get("credits_charged"))[0],
        downloads=downloads,
        error=ProjectError.model_validate(raw_error) if isinstance(raw_error, dict) else None,
    )
    outcome = transitions.apply(update)
    if outcome is transitions.Outcome.APPLIED:
        logger.info("sweep moved a job", extra={"job_id": job.job_id, "project_status": status})
        return f"recovered_{event}"
    _postpone(job, now)
    return "unchanged"


def _downloading(job: Job, now: int, downloads: list[ProjectDownload]) -> str:
    # Quiet since its last move or its last failed attempt: a message still retrying is alive,
    # and a second copy of it could revive the job after the first one failed it.
    last_sign = max(epoch_of(job.updated_at), job.download_attempted_at or 0)
    stuck = now - last_sign >= get_settings().sweep_download_stuck_seconds
    if (
        not job.downloads_queued and job_store.claim_queueing(job.job_id, transitions.QUEUE_LEASE_SECONDS)
    ) or (job.downloads_queued and stuck):
        requeued = transitions.requeue_missing(job, downloads)
        _postpone(job, now)
        if requeued:
            logger.warning(
                "sweep queued missing downloads again", extra={"job_id": job.job_id, "count": requeued}
            )
            return "downloads_requeued"
    _postpone(job, now)
    return "downloading"


def _owed_callback(job: Job, now: int) -> str:
    if job.callback_state == "pending" and not job.callback_queued:
        callback_state.announce_end(job)
        _postpone(job, now)
        return "callback_queued"
    if job.callback_state == "pending" and now - epoch_of(job.updated_at) > CALLBACK_SETTLE_SECONDS:
        # Its message outlived the callback queue's retention: it can never be delivered now.
        callback_state.give_up(job.job_id, "callback delivery never settled")
        return "callback_abandoned"
    _postpone(job, now)
    return "callback_in_flight"


def _give_up(job: Job, quiet_for: int) -> str:
    return _fail(
        job,
        "gave_up",
        f"the job made no progress for {quiet_for} s; the sweep gave up on it",
        failure_source(job.status),
    )


def _fail(job: Job, code: str, message: str, source: str) -> str:
    moves.fail(
        job,
        JobError(code=code, message=message, source=source),  # type: ignore[arg-type]
        [
            JobStatus.WAITING,
            JobStatus.SUBMITTING,
            JobStatus.QUEUED,
            JobStatus.RENDERING,
            JobStatus.DOWNLOADING,
        ],
    )
    return code


def _postpone(job: Job, now: int) -> None:
    """Back off: base, 2 x base, 4 x base, ... up to the maximum."""
    settings = get_settings()
    delay = min(
        settings.sweep_backoff_base_seconds * 2 ** min(job.sweep_checks, 20),
        settings.sweep_backoff_max_seconds,
    )
    job_store.postpone_check(job.job_id, now + delay, job.sweep_checks + 1)
