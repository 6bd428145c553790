"""Moving a job, and what every move brings with it.

All of the pipeline's status changes go through here, so the consequences of a move are decided
in one place: what the move writes for the sweep, the callback and the slot pool beside the status
(jobs/bookkeeping.py), and what follows it: a job that ends announces its ending (once: only the
write that ended it gets here with a job), and a job that gives back its Magic Hour slot wakes the
dispatcher so the next waiting job is created without waiting for the sweep.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from pipeline.jobs import bookkeeping, budgets, callback_state
from pipeline.models.job import Job, JobError, JobStatus
from pipeline.platform import observability
from pipeline.platform.observability import logger
from pipeline.platform.timeutil import epoch_seconds
from pipeline.store import dispatch_queue
from pipeline.store import jobs as job_store


def move(
    job: Job, to: JobStatus, allowed_from: Iterable[JobStatus], sets: dict[str, Any] | None = None
) -> Job | None:
    moved = job_store.transition(job, to, allowed_from, bookkeeping.for_move(job, to, epoch_seconds()), sets)
    _after(job, moved)
    return moved


def claim_for_create(job: Job, slot: int) -> Job | None:
    """`waiting` to `submitting` holding Magic Hour slot `slot`, taken in the same write. None when
    the job is no longer waiting or another job took the slot first."""
    keeping = bookkeeping.for_move(job, JobStatus.SUBMITTING, epoch_seconds())
    moved = job_store.claim_for_create(job, slot, keeping)
    _after(job, moved)
    return moved


def fail(
    job: Job, error: JobError, allowed_from: Iterable[JobStatus], sets: dict[str, Any] | None = None
) -> Job | None:
    keeping = bookkeeping.for_move(job, JobStatus.FAILED, epoch_seconds())
    moved = job_store.fail(job, error, allowed_from, keeping, sets)
    _after(job, moved)
    return moved


def attach(job: Job, project_id: str, credits_charged: int | None) -> Job | None:
    keeping = bookkeeping.for_move(job, JobStatus.QUEUED, epoch_seconds())
    moved = job_store.attach_project(job, project_id, credits_charged, keeping)
    if moved is not None:  # Magic Hour charged the project: one attach per job succeeds
        budgets.record_charge(moved.client_id, moved.job_id, credits_charged)
    _after(job, moved)
    return moved


def wake_dispatcher(delay_seconds: int = 0) -> None:
    """Best effort: the sweep wakes the dispatcher too while jobs wait."""
    try:
        dispatch_queue.send_wakeup(delay_seconds)
    except Exception:
        logger.exception("could not wake the dispatcher; the sweep will")


def _after(before: Job, after: Job | None) -> None:
    if after is None:
        return
    # First: from this write on the job reads `failed`, and its usage should agree at once.
    budgets.refund_if_failed(after)
    if before.slot is not None and after.slot is None:
        wake_dispatcher()
    if after.status.is_terminal:
        observability.job_ended(
            after.status.value, after.kind, after.created_at, after.updated_at, after.credits_charged
        )
        callback_state.announce_end(after)
