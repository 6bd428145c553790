"""The sweep's look at a `waiting` job: it needs no Magic Hour call, only its deadlines watched
(the dispatcher creates it when its turn comes; the sweep wakes the dispatcher once per run)."""

from __future__ import annotations

from pipeline.create import claims, creation
from pipeline.models.job import Job, JobStatus
from pipeline.platform.settings import get_settings
from pipeline.platform.timeutil import epoch_of
from pipeline.store import jobs as job_store


def check(job: Job, now: int) -> str:
    if claims.past_deadline(job, now):
        creation.fail_past_deadline(
            job, job.last_create_error or creation.UNAVAILABLE, job.create_attempts, [JobStatus.WAITING]
        )
        return "create_deadline_passed"
    # The dispatcher creates it when its turn comes (run() wakes it once for all waiting jobs);
    # the sweep only watches its deadlines, so it looks again at the next one, not every back-off
    # step: thousands of waiting jobs cost the sweep one check each, not one per period. A move
    # (a refused create puts it back to `waiting`) schedules its check afresh.
    job_store.postpone_check(job.job_id, max(_next_deadline(job), now + 1), job.sweep_checks + 1)
    return "waiting"


def _next_deadline(job: Job) -> int:
    """When a waiting job next needs the sweep: its give-up, or its create deadline once Magic
    Hour has refused it (dispatch.past_deadline)."""
    settings = get_settings()
    deadline = epoch_of(job.updated_at) + settings.sweep_give_up_seconds + 1
    if job.create_attempts > 0:
        deadline = min(deadline, epoch_of(job.created_at) + settings.create_deadline_seconds)
    return deadline
