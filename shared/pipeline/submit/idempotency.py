"""`Idempotency-Key`: the job record is the idempotency record.

The job id is derived from (client, key), and the job is written with a conditional put before
Magic Hour is called. So the same key can never make a second job, nor a second project: not for a
concurrent duplicate, not for a retry after the first attempt crashed between the create and its
record, and not days later (the key lives as long as the job, `job_ttl_days`). A separate
idempotency store (Powertools' 24 h record) would add nothing that holds longer, and its
in-progress record, expiring on a Lambda timeout, would only be safe because of the derived id.

What a duplicate answers:
- a different body under the key: `IdempotencyConflict`;
- the first request still creating the project (its claim, `submit_claim_until`, not run out):
  wait for it, at most `IN_PROGRESS_WAIT_SECONDS`, then `RequestInProgress`;
- otherwise the job as it stands (a first attempt that crashed leaves its claim to run out: then
  it is the job as it is, `submitting` until the webhook or the sweep settles it).
"""

from __future__ import annotations

import time
from collections.abc import Callable

from pipeline.jobs import errors
from pipeline.magic_hour.client import MagicHourClient
from pipeline.models.job import Job, JobStatus
from pipeline.platform import ids
from pipeline.platform.timeutil import epoch_seconds
from pipeline.store import jobs as job_store
from pipeline.submit.submission import submit
from pipeline.submit.validation import Submission

# How long a duplicate waits for the first request to create the project: long enough for the
# usual create (well under a second, a few seconds when Magic Hour is slow), short enough that the
# duplicate answers within API Gateway's 29 s with room for a retry of its own.
IN_PROGRESS_WAIT_SECONDS = 8.0
POLL_SECONDS = 0.1
_IN_FLIGHT_STATUSES = frozenset({JobStatus.WAITING, JobStatus.SUBMITTING})


def first_request_in_flight(job: Job, now: int) -> bool:
    """Whether the request that wrote the job may still be creating its project."""
    return (
        job.status in _IN_FLIGHT_STATUSES
        and job.project_id is None
        and job.submit_claim_until is not None
        and now < job.submit_claim_until
    )


def submit_once(
    submission: Submission,
    magic_hour: MagicHourClient,
    *,
    clock: Callable[[], float] = time.monotonic,
    sleep: Callable[[float], None] = time.sleep,
) -> Job:
    if submission.idempotency_key is None:
        job = submit(submission, ids.new_job_id(), magic_hour)
        assert job is not None  # narrows the type; a fresh random id exists nowhere  # nosec B101
        return job
    job_id = ids.job_id_for_idempotency_key(submission.client_id, submission.idempotency_key)
    deadline = clock() + IN_PROGRESS_WAIT_SECONDS
    written = submit(submission, job_id, magic_hour)
    if written is not None:
        return written
    while True:
        existing = job_store.get_job(job_id)
        if existing is None:
            # The first attempt sent nothing and removed its job (our Magic Hour key was refused or
            # unreadable): the key is free, and this request makes the job itself.
            written = submit(submission, job_id, magic_hour)
            if written is not None:
                return written
            if clock() >= deadline:
                raise errors.RequestInProgress(job_id)
            continue
        if existing.request_fingerprint != submission.fingerprint:
            raise errors.IdempotencyConflict()
        if not first_request_in_flight(existing, epoch_seconds()):
            return existing
        if clock() >= deadline:
            raise errors.RequestInProgress(job_id)
        sleep(POLL_SECONDS)
