"""Creating a job: validate everything (submit/validation.py), write the job, then (and only then)
spend credits.

Order matters for money: the job row exists before Magic Hour is called, and Magic Hour gets our
job id inside the project name, so a project created by a request whose answer we never saw can
still be matched to its job (by the webhook, or by the sweep) instead of being created again.
"""

from __future__ import annotations

import math

from pipeline.create import claims, creation
from pipeline.jobs import bookkeeping, budgets, errors, moves, reservations
from pipeline.magic_hour import account, rates
from pipeline.magic_hour.client import MagicHourClient
from pipeline.models.job import Job, JobStatus
from pipeline.models.usage import OverBudget
from pipeline.platform import ids
from pipeline.platform.observability import about_job, logger
from pipeline.platform.settings import get_settings
from pipeline.platform.timeutil import epoch_seconds, now_iso
from pipeline.store import fair_queue, usage
from pipeline.store import jobs as job_store
from pipeline.submit.validation import Submission

# Beyond Magic Hour's create timeout, for the s3:// inputs handed over before the create.
SUBMIT_CLAIM_MARGIN_SECONDS = 5

# Failures kept on a `failed` job (a retry with the same Idempotency-Key shows them): Magic Hour
# looked at the request and refused it.
_KEPT_FAILURES: dict[str, type[errors.CreateRefused]] = {
    "upstream_rejected": errors.UpstreamRejected,
    "insufficient_credits": errors.InsufficientCredits,
    "plan_restricted": errors.PlanRestricted,
}


def submit_claim_seconds() -> int:
    """How long the request that writes a job may take to create its project: Magic Hour's create
    timeout, and a margin for handing over s3:// inputs first. Past it, the request has answered or
    died, whatever the job says."""
    settings = get_settings()
    create_timeout = settings.magic_hour_connect_timeout_seconds + settings.magic_hour_read_timeout_seconds
    return math.ceil(create_timeout) + SUBMIT_CLAIM_MARGIN_SECONDS


def submit(submission: Submission, job_id: str, magic_hour: MagicHourClient) -> Job | None:
    """Write the job with its reservation, then create its Magic Hour project when a slot is free
    (else it waits for the dispatcher). None, and nothing done, when a job with this id exists
    already: that is a retry, the first attempt owns the project (submit/idempotency.py decides
    its answer), whatever the budget says. BudgetExceeded (nothing written, nothing sent) when the
    job's estimate does not fit in what is left of its client's daily budget."""
    about_job(job_id, submission.client_id)
    request = submission.request
    today = budgets.utc_today()
    budget = usage.budget_of(submission.client_id)
    estimate = rates.estimate_credits(request.tool, request.input)
    try:
        admitted = reservations.admit(submission.client_id, estimate, budget, today)
    except OverBudget:
        if job_store.get_job(job_id) is not None:
            return None  # a replay is no new spending
        raise budgets.refusal(submission.client_id, today, budget or 0, estimate) from None
    now = now_iso()
    # While anyone's jobs wait, a new job queues behind them whatever sets the limit (claim_now),
    # or a client posting steadily would take every slot Magic Hour frees.
    waits = account.concurrency_limit(magic_hour) > 0 or claims.jobs_wait()
    project_name = ids.project_name_for(
        job_id, request.name or str(request.input.get("name") or request.tool)
    )
    job = Job(
        job_id=job_id,
        client_id=submission.client_id,
        tool=request.tool,
        kind=submission.tool.kind,
        status=JobStatus.WAITING if waits else JobStatus.SUBMITTING,
        name=request.name,
        metadata=request.metadata,
        callback_url=request.callback_url,
        created_at=now,
        updated_at=now,
        request_fingerprint=submission.fingerprint,
        magic_hour_name=project_name,
        input=request.input,
        callback_state="pending" if request.callback_url else None,
        fair_key=fair_queue.fair_key(fair_queue.next_round_for(submission.client_id), now, job_id)
        if waits
        else None,
        submit_claim_until=epoch_seconds() + submit_claim_seconds(),
        # Sent at once when there is no slot to wait for: the sweep's grace starts now.
        create_sent_at=None if waits else epoch_seconds(),
        **admitted.sets,
    )
    try:
        job_store.check_storable(job, bookkeeping.first_check_at())
    except job_store.JobTooLarge as too_large:
        # Refused before any write: stored anyway, a later write of the job (its project id) would
        # be refused after Magic Hour charged the project.
        raise errors.BodyTooLarge(f"{too_large}; send a smaller input") from too_large
    try:
        if not job_store.put_new_job(job, bookkeeping.first_check_at(), admitted.usage):
            return None
    except OverBudget:
        raise budgets.refusal(submission.client_id, today, budget or 0, estimate) from None
    if waits:
        claimed = claims.claim_now(job)
        if claimed is not None and claimed.status is JobStatus.FAILED:
            return claimed  # the budget was lowered under it: failed budget_exceeded, nothing sent
        if claimed is None:
            moves.wake_dispatcher()
            logger.info(
                "job waits for a Magic Hour slot", extra={"job_id": job_id, "client_id": job.client_id}
            )
            _end_claim(job_id)
            return job_store.get_job(job_id) or job
        job = claimed
    else:
        job = claims.count_in_flight(job)
    try:
        created = creation.create(job, magic_hour, inline=True)
    except creation.CreateNotSent as not_sent:
        if not_sent.code == creation.MISCONFIGURED:
            raise errors.UpstreamMisconfigured(not_sent.message) from not_sent
        raise errors.DependencyUnavailable(f"{not_sent.message}; retry shortly") from not_sent
    except Exception:
        # This request answers with an error: duplicates get the job as it stands from now on.
        # (If the store itself is failing this fails too, and the claim runs out by itself.)
        _end_claim(job_id)
        raise
    if created.project_id is None and not created.status.is_terminal:
        # Waiting again, or `submitting` with an unknown outcome: this request answers now, so a
        # duplicate gets the job as it stands instead of waiting for the claim to run out. A job
        # with its project, or ended, says so by itself: no write.
        _end_claim(job_id)
    return created


def _end_claim(job_id: str) -> None:
    try:
        job_store.end_submit_claim(job_id)
    except Exception:
        # Only the duplicates' answer depends on it: they wait, then see the claim run out.
        logger.exception("could not end the submit claim", extra={"job_id": job_id})


def refusal_error(job: Job) -> errors.CreateRefused | None:
    """The error a job refused at create answers with, on the first request and on every replay."""
    if job.status is JobStatus.FAILED and job.error is not None and job.error.source == "submit":
        refusal = _KEPT_FAILURES.get(job.error.code)
        if refusal is not None:
            return refusal(job.job_id, job.error.message)
    return None
