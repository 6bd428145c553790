"""Taking a `waiting` job for its create: the claim (with its slot when the deployment has a limit,
and the budget check of its reservation in the same write), the fair queue's head, and the
deadline a waiting job runs against.

Shared by the dispatcher (its loop), submit (a new job's try when nothing else waits, `claim_now`) and the
sweep (`past_deadline`). A claim is a conditional write, so two claimers never create one job.
"""

from __future__ import annotations

from pipeline.create import fair_share, learned_limit
from pipeline.jobs import budgets, moves
from pipeline.magic_hour import account, rates
from pipeline.models.job import Job, JobError, JobStatus
from pipeline.models.usage import OverBudget
from pipeline.platform.observability import logger
from pipeline.platform.settings import get_settings
from pipeline.platform.timeutil import epoch_of, epoch_seconds
from pipeline.store import fair_queue, slots, usage
from pipeline.store import jobs as job_store

# How much of the queue's head one look reads: enough to step over entries the index still shows
# for jobs that have just left it.
_QUEUE_HEAD = 25


def claim(job: Job, slot: int | None) -> Job | None:
    """Take a `waiting` job for its create: with `slot` in the same write when the deployment has
    a concurrency limit. None when it is no longer waiting or the slot was taken meanwhile.

    Its reservation is checked against the budget in the same write: a job whose client's budget
    was lowered (or whose reservation no longer fits on the day its create would be sent) is not
    sent, and fails as the submission would have been refused (402 budget_exceeded) had it come
    now; the failed job is returned."""
    try:
        return moves.claim_for_create(job, slot)
    except OverBudget:
        budget = usage.budget_of(job.client_id) or 0
        estimate = job.reserved_credits or rates.estimate_credits(job.tool, job.input)
        exceeded = budgets.refusal(job.client_id, budgets.utc_today(), budget, estimate)
        return moves.fail(
            job, JobError(code="budget_exceeded", message=str(exceeded), source="submit"), [JobStatus.WAITING]
        )


def next_due_job(limit: int = 0) -> Job | None:
    """The fairest job still waiting (the index may lag a write by a moment) whose client is not at
    its cap (fair_share.py) of the `limit` slots, or of the limit Magic Hour's 429s showed."""
    head = job_store.waiting_jobs(_QUEUE_HEAD)
    most = learned_limit.cap_limit(limit)
    if most and head:
        capped = fair_share.within_cap(head, slots.held_by_client(), most)
        # A learned limit may lag Magic Hour's real one (it is raised as creates go through): it
        # picks who goes next, never stops everyone.
        head = capped if capped or limit else head
    for entry in head:
        job = job_store.get_job(entry.job_id)
        if job is not None and job.status is JobStatus.WAITING:
            return job
    return None


def past_deadline(job: Job, now: int) -> bool:
    """Only a job Magic Hour has refused runs against the create deadline; one that waits for a
    slot of our own waits its turn (the sweep's give-up still bounds it)."""
    return (
        job.create_attempts > 0 and now >= epoch_of(job.created_at) + get_settings().create_deadline_seconds
    )


def others_wait(job: Job) -> bool:
    """Whether any job but this one waits in the fair queue (the index may lag a write by a
    moment): then the next free slot is the dispatcher's to hand out in fair order."""
    return any(entry.job_id != job.job_id for entry in job_store.waiting_jobs(2))


def jobs_wait() -> bool:
    """Whether any job waits in the fair queue (the index may lag a write by a moment)."""
    return bool(job_store.waiting_jobs(1))


def claim_now(job: Job) -> Job | None:
    """Submit's own try: take a slot for a new job at once, only when no other job waits (the
    fair queue is empty but for it) and, without a limit of ours, no pause after Magic Hour's
    last 429 holds. Whatever sets the limit (ours, the one Magic Hour's 429s showed, or the pause
    itself), a new submission never takes a freed slot ahead of another client's waiting job: it
    queues, and the dispatcher hands slots out in fair order under the per-client cap
    (next_due_job). With nobody else waiting there is nobody to be fair to, so no cap applies."""
    # submit read the limit a moment ago (account.py keeps it for an hour): no second read here.
    limit = account.concurrency_limit()
    if others_wait(job):
        return None
    if not limit:
        hold_until, _ = fair_queue.hold()
        if hold_until > epoch_seconds():
            return None
    for _ in range(3):  # another job may take the free slot first
        slot = slots.free_slot(learned_limit.pool(limit), spread=not limit)
        if slot is None:
            # The open pool full (never, by its size) only loses the count, never the create.
            return None if limit else _noted(job, claim(job, None))
        claimed = claim(job, slot)
        if claimed is not None:
            return _noted(job, claimed)
        current = job_store.get_job(job.job_id)
        if current is None or current.status is not JobStatus.WAITING:
            return None  # a dispatcher took it: it creates it, never this request too
    logger.info("no slot could be taken at submit; the job waits", extra={"job_id": job.job_id})
    return None


def _noted(job: Job, claimed: Job | None) -> Job | None:
    """A job taken for its create moves the round being dispatched forward."""
    if claimed is not None and claimed.status is JobStatus.SUBMITTING:
        fair_queue.note_dispatched(fair_queue.round_of(job.fair_key))
    return claimed


def count_in_flight(job: Job) -> Job:
    """A job sent at once with no limit of ours (nothing waits) takes a slot of the open pool
    before its create, so the slots count what each client has rendering (learned_limit.py)."""
    try:
        for _ in range(3):  # another job may take the same free slot first
            slot = slots.free_slot(learned_limit.OPEN_POOL, spread=True)
            if slot is None:
                return job
            held = job_store.take_open_slot(job, slot)
            if held is not None:
                return held
    except Exception:  # the count only shapes the cap: the create goes on without it
        logger.exception("could not count the job in flight", extra={"job_id": job.job_id})
    return job
