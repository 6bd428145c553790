"""Moving a job, and what every move brings with it.

All of the pipeline's status changes go through here, so the consequences of a move are decided
in one place: what the move writes for the sweep, the callback and the slot pool beside the status
(jobs/bookkeeping.py), and what follows it: a job that ends announces its ending (once: only the
write that ended it gets here with a job), and a job that gives back its Magic Hour slot wakes the
dispatcher so the next waiting job is created without waiting for the sweep. What a move does to
its client's usage (jobs/reservations.py) is written in the same transaction as the move.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any

from pipeline.jobs import bookkeeping, budgets, callback_state, reservations
from pipeline.magic_hour import rates
from pipeline.models.job import Job, JobError, JobStatus
from pipeline.platform import observability
from pipeline.platform.observability import logger
from pipeline.platform.timeutil import epoch_seconds, now_iso
from pipeline.store import batches, dispatch_queue, usage
from pipeline.store import jobs as job_store

# A move refused because its money fields changed under it is made again from the fresh job.
_MONEY_ATTEMPTS = 4


def move(
    job: Job,
    to: JobStatus,
    allowed_from: Iterable[JobStatus],
    sets: dict[str, Any] | None = None,
    *,
    credits_charged: int | None = None,
) -> Job | None:
    """`credits_charged`: what Magic Hour says it charged, when the news that moves the job says."""
    allowed = list(allowed_from)

    def write(current: Job) -> Job | None:
        keeping = reservations.apply(
            bookkeeping.for_move(current, to, epoch_seconds()),
            current,
            reservations.settle(current, to, budgets.utc_today(), credits=credits_charged),
        )
        extra = dict(sets or {})
        if credits_charged is not None and current.credits_charged is None:
            extra["credits_charged"] = credits_charged
        return job_store.transition(current, to, allowed, keeping, extra)

    moved = _with_fresh_money(job, allowed, write)
    _after(job, moved)
    return moved


def claim_for_create(job: Job, slot: int | None) -> Job | None:
    """`waiting` to `submitting`, holding Magic Hour slot `slot` (taken in the same write) when the
    deployment has a limit, its reservation checked against the budget as it is now. None when the
    job is no longer waiting or another job took the slot first; OverBudget when it no longer fits."""
    budget = usage.budget_of(job.client_id)

    def write(current: Job) -> Job | None:
        keeping = reservations.apply(
            bookkeeping.for_move(current, JobStatus.SUBMITTING, epoch_seconds()),
            current,
            reservations.claim(
                current, budget, budgets.utc_today(), rates.estimate_credits(current.tool, current.input)
            ),
        )
        if slot is None:
            return job_store.transition(current, JobStatus.SUBMITTING, [JobStatus.WAITING], keeping)
        return job_store.claim_for_create(current, slot, keeping)

    moved = _with_fresh_money(job, [JobStatus.WAITING], write)
    _after(job, moved)
    return moved


def fail(
    job: Job, error: JobError, allowed_from: Iterable[JobStatus], sets: dict[str, Any] | None = None
) -> Job | None:
    allowed = list(allowed_from)

    def write(current: Job) -> Job | None:
        keeping = reservations.apply(
            bookkeeping.for_move(current, JobStatus.FAILED, epoch_seconds()),
            current,
            reservations.settle(current, JobStatus.FAILED, budgets.utc_today(), error=error),
        )
        return job_store.fail(current, error, allowed, keeping, sets)

    moved = _with_fresh_money(job, allowed, write)
    _after(job, moved)
    return moved


def attach(job: Job, project_id: str, credits_charged: int | None) -> Job | None:
    """Record the job's Magic Hour project: its reservation becomes the charge in the same write
    (one attach per job succeeds)."""

    def write(current: Job) -> Job | None:
        keeping = reservations.apply(
            bookkeeping.for_move(current, JobStatus.QUEUED, epoch_seconds()),
            current,
            reservations.settle(current, JobStatus.QUEUED, budgets.utc_today(), credits=credits_charged),
        )
        return job_store.attach_project(current, project_id, credits_charged, keeping)

    moved = _with_fresh_money(job, [JobStatus.SUBMITTING, JobStatus.WAITING], write)
    _after(job, moved)
    return moved


def remove_unsent(job: Job) -> None:
    """Delete a `submitting` job whose create certainly sent nothing, with its reservation."""
    job_store.delete_submitting_job(job, reservations.release(job, budgets.utc_today()))


def _with_fresh_money(job: Job, allowed: list[JobStatus], write: Callable[[Job], Job | None]) -> Job | None:
    """A move's usage change is computed from the job as read; when another move changed the
    job's money fields meanwhile (it is still in a status the move starts from), the write is
    refused, and the move is made again from the job as it stands."""
    current = job
    for _ in range(_MONEY_ATTEMPTS):
        moved = write(current)
        if moved is not None:
            return moved
        fresh = job_store.get_job(job.job_id)
        if (
            fresh is None
            or fresh.status not in allowed
            or reservations.expects(fresh) == reservations.expects(current)
        ):
            return None
        current = fresh
    return None


def wake_dispatcher(delay_seconds: int = 0) -> None:
    """Best effort: the sweep wakes the dispatcher too while jobs wait."""
    try:
        dispatch_queue.send_wakeup(delay_seconds)
    except Exception:
        logger.exception("could not wake the dispatcher; the sweep will")


def _after(before: Job, after: Job | None) -> None:
    if after is None:
        return
    if before.slot is not None and after.slot is None:
        wake_dispatcher()
    if after.status.is_terminal and after.batch_id is not None:
        _end_batch_if_done(after)
    if after.status.is_terminal:
        observability.job_ended(
            after.status.value, after.kind, after.created_at, after.updated_at, after.credits_charged
        )
        callback_state.announce_end(after)


def _end_batch_if_done(job: Job) -> None:
    """Best effort: the batch's end is read from its counts, which this job's move already wrote;
    a failure here leaves the batch running until another of its jobs (or the sweep) looks."""
    assert job.batch_id is not None  # narrows the type; checked by the caller  # nosec B101
    try:
        batches.end_if_done(job.client_id, job.batch_id, now_iso())
    except Exception:
        logger.exception("could not end the batch", extra={"job_id": job.job_id})
