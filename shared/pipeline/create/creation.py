"""Creating a job's Magic Hour project: the one place that spends credits, used by submit (for a
job that gets a slot at once) and by the dispatcher (for a job that waited).

What Magic Hour's answer means for money (the table: pipeline/magic_hour/outcomes.py):
- 200: the project exists; record it.
- 400/422/402 (and any other 4xx): refused, nothing created; the job fails and is kept, so a
  replay shows why.
- 429/500/503 or no connection at all: nothing created; the job waits and is tried again after a
  growing delay (at least Retry-After) until the create deadline.
- Any other answer (501, 502, 504, 505, 520-599, 1xx, 3xx), a timeout or a cut answer: the project
  may exist. The job stays `submitting` until the webhook names it (the project name carries the
  job id) or the sweep's grace ends; it is never created again.
"""

from __future__ import annotations

from pipeline.create import inputs, learned_limit
from pipeline.jobs import moves
from pipeline.magic_hour import catalogue
from pipeline.magic_hour.client import CreatedProject, MagicHourClient
from pipeline.magic_hour.errors import (
    MagicHourAuthFailed,
    MagicHourError,
    MagicHourKeyUnavailable,
    MagicHourOutcomeUnknown,
    MagicHourPaymentRequired,
    MagicHourPlanRestricted,
    MagicHourRateLimited,
    MagicHourRejected,
)
from pipeline.magic_hour.outcomes import Answer, answer_of
from pipeline.models.job import Job, JobError, JobStatus
from pipeline.platform.observability import (
    CREATE_RETRIES,
    CREDITS_OUT_OF_RANGE,
    MAGIC_HOUR_CREATES,
    about_job,
    emit,
    logger,
)
from pipeline.platform.settings import get_settings
from pipeline.platform.timeutil import epoch_of, epoch_seconds, now_iso
from pipeline.store import fair_queue
from pipeline.store import jobs as job_store

RATE_LIMITED = "upstream_rate_limited"
UNAVAILABLE = "upstream_unavailable"
MISCONFIGURED = "upstream_misconfigured"


class CreateNotSent(Exception):
    """Submit's own create could not be sent for a reason of ours (our Magic Hour key is rejected
    or unreadable): the job was removed and the caller gets an error, not a waiting job."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


# Magic Hour refused this job's create; the job is kept `failed` with the code (and its message).
_REFUSAL_CODES: dict[type[Exception], str] = {
    MagicHourPaymentRequired: "insufficient_credits",
    # 403: the job asked for a model, resolution or feature the plan lacks; no operator alarm.
    MagicHourPlanRestricted: "plan_restricted",
}


def magic_hour_body(job: Job, magic_hour: MagicHourClient | None = None) -> dict[str, object]:
    # s3:// inputs become fetchable URLs (or Magic Hour uploads) for this create only; the job
    # keeps the s3:// values. Called inside create's try: one that cannot be handed over raises
    # MagicHourUnavailable, so the job waits and is tried again like a create that sent nothing.
    body = inputs.for_magic_hour(job.input, magic_hour)
    # The name carries the job id, which is how a webhook finds the job of a create whose answer
    # was lost. A tool without a `name` field (ai-ugc-ad) would refuse it, so it goes without:
    # such a create's unknown outcome ends `submit_unconfirmed`, still never created twice.
    tool = catalogue.find_tool(job.tool)
    if tool is None or tool.takes_name:
        body = {**body, "name": job.magic_hour_name}
    return body


def create(job: Job, magic_hour: MagicHourClient, *, inline: bool) -> Job:
    """Send the create of a `submitting` job and apply the answer. Returns the job as it stands."""
    about_job(job.job_id, job.client_id)
    try:
        created = magic_hour.create_project(job.tool, magic_hour_body(job, magic_hour))
    except (MagicHourRejected, MagicHourPaymentRequired, MagicHourPlanRestricted) as refusal:
        return _refused(job, _REFUSAL_CODES.get(type(refusal), "upstream_rejected"), refusal.message)
    except MagicHourOutcomeUnknown as unknown:
        return _unknown(job, unknown)
    except (MagicHourAuthFailed, MagicHourKeyUnavailable) as ours:
        auth = isinstance(ours, MagicHourAuthFailed)
        if auth:
            logger.error("Magic Hour rejected our API key", extra={"status": ours.status_code})
            emit(MAGIC_HOUR_CREATES, outcome="auth_failed")
        if inline:
            moves.remove_unsent(job)
            if job.slot is not None:
                moves.wake_dispatcher()
            if auth:
                raise CreateNotSent(MISCONFIGURED, "Magic Hour rejected this deployment's API key") from ours
            raise CreateNotSent("service_unavailable", "the Magic Hour API key could not be read") from ours
        # An operator problem: the job waits (within its deadline) for the key to be fixed.
        return retry_later(job, MISCONFIGURED if auth else UNAVAILABLE, ours.message, 0)
    except MagicHourRateLimited as limited:
        waiting = retry_later(job, RATE_LIMITED, limited.message, limited.retry_after_seconds)
        learned_limit.after_rate_limited()  # its slot given back: what renders now filled the plan
        return waiting
    except MagicHourError as failure:
        # Anything else is read by the outcome table too: only "nothing created" is tried again.
        answer = answer_of(failure.status_code) if failure.status_code is not None else None
        if answer is Answer.UNKNOWN:
            return _unknown(job, failure)
        if failure.status_code is not None and 400 <= failure.status_code < 500:
            return _refused(job, "upstream_rejected", failure.message)
        return retry_later(job, UNAVAILABLE, failure.message, 0)
    # From here on Magic Hour has made (and charged) the project: whatever fails now, the caller
    # gets the job as it stands, never an error it could retry (a retry without an
    # Idempotency-Key would create and charge a second project). The webhook, which finds the job
    # by the name tag, or the sweep records what this request could not.
    try:
        return _record(job, created)
    except Exception:
        logger.exception(
            "Magic Hour created the project but it could not be recorded; the webhook will",
            extra={"job_id": job.job_id, "client_id": job.client_id, "project_id": created.project_id},
        )
        emit(MAGIC_HOUR_CREATES, outcome="created_unrecorded")
        return _mark_unknown(job)


def _record(job: Job, created: CreatedProject) -> Job:
    try:
        fair_queue.clear_hold()
    except Exception:  # the pause only spaces out creates; the next refusal sets it anew
        logger.exception("could not lift the create pause", extra={"job_id": job.job_id})
    if created.credits_out_of_range:
        # Kept as unknown rather than lose the project over a number DynamoDB cannot hold.
        emit(CREDITS_OUT_OF_RANGE)
        logger.warning(
            "Magic Hour answered credits out of range; recorded as unknown",
            extra={"job_id": job.job_id, "client_id": job.client_id, "project_id": created.project_id},
        )
    attached = moves.attach(job, created.project_id, created.credits_charged)
    emit(MAGIC_HOUR_CREATES, outcome="created")
    learned_limit.after_created(job.slot)
    if attached is None:  # the webhook got there first (it recovers jobs by project name)
        return job_store.get_job(job.job_id) or job
    logger.info(
        "Magic Hour project created",
        extra={"job_id": job.job_id, "client_id": job.client_id, "project_id": created.project_id},
    )
    return attached


def _as_it_stands(job: Job) -> Job:
    """The stored job, or the one in hand when the store cannot be read either."""
    try:
        return job_store.get_job(job.job_id) or job
    except Exception:
        logger.exception("could not read the job back", extra={"job_id": job.job_id})
        return job


def _unknown(job: Job, unknown: MagicHourError) -> Job:
    logger.warning(
        "Magic Hour create outcome unknown; the job waits for its webhook",
        extra={"job_id": job.job_id, "client_id": job.client_id, "error": unknown.message},
    )
    emit(MAGIC_HOUR_CREATES, outcome="unknown")
    return _mark_unknown(job)


def _mark_unknown(job: Job) -> Job:
    try:
        # From now on the job shows `submitting` (never `waiting` again): its create may exist.
        marked = job_store.mark_create_unknown(job.job_id)
    except Exception:
        # It then shows `waiting` until the create's answer time has passed, and `submitting`
        # after: still forward only. The answer is the job as stored, never a guess.
        logger.exception("could not note the unknown outcome", extra={"job_id": job.job_id})
        marked = None
    return marked or _as_it_stands(job)


def _refused(job: Job, code: str, message: str) -> Job:
    emit(MAGIC_HOUR_CREATES, outcome="refused")
    failed = moves.fail(job, JobError(code=code, message=message, source="submit"), [JobStatus.SUBMITTING])
    return failed or job_store.get_job(job.job_id) or job


def retry_later(job: Job, code: str, message: str, retry_after: int) -> Job:
    """Nothing was created: back to `waiting`, or failed once the create deadline has passed.

    Magic Hour's refusal speaks for the account, not for this job, so it pauses every create
    (growing with each refusal in a row, at least Retry-After); when the pause ends the dispatcher
    takes waiting jobs in fair order again, so no client's retries jump the queue."""
    settings = get_settings()
    now = epoch_seconds()
    attempts = job.create_attempts + 1
    deadline_at = epoch_of(job.created_at) + settings.create_deadline_seconds
    emit(CREATE_RETRIES)
    if now >= deadline_at:
        logger.warning(
            "create deadline passed; job failed",
            extra={"job_id": job.job_id, "client_id": job.client_id, "code": code},
        )
        return fail_past_deadline(job, code, attempts, [JobStatus.SUBMITTING]) or job
    _, streak = fair_queue.hold()
    delays = settings.create_retry_delays_seconds
    delay = max(1, retry_after, delays[min(streak + 1, len(delays)) - 1])
    fair_queue.set_hold(now + delay, streak + 1)
    fair_key = job.fair_key or fair_queue.fair_key(
        fair_queue.next_round_for(job.client_id), now_iso(), job.job_id
    )
    waiting = moves.move(
        job,
        JobStatus.WAITING,
        [JobStatus.SUBMITTING],
        {"create_attempts": attempts, "last_create_error": code, "fair_key": fair_key},
    )
    logger.info(
        "Magic Hour could not take the create; the job waits",
        extra={
            "job_id": job.job_id,
            "client_id": job.client_id,
            "code": code,
            "magic_hour_message": message,
            "retry_in": delay,
        },
    )
    moves.wake_dispatcher(min(delay, max(1, deadline_at - now)))
    return waiting or job_store.get_job(job.job_id) or job


def fail_past_deadline(job: Job, code: str, attempts: int, allowed_from: list[JobStatus]) -> Job | None:
    what = {
        RATE_LIMITED: "kept answering 429 (rate limited)",
        MISCONFIGURED: "kept rejecting this deployment's API key",
    }.get(code, "stayed unavailable")
    return moves.fail(
        job,
        JobError(
            code=code,
            message=f"Magic Hour {what} for the whole create deadline ({attempts} attempts); "
            "nothing was created or charged",
            source="submit",
        ),
        allowed_from,
    )
