"""Cancelling a job not yet sent to Magic Hour (CONTRACT §1 "Cancelling a job").

Magic Hour has no cancellation API, so only a job still `waiting` can be stopped: it ends
`canceled` with `canceled_by_client` at no cost. The move is conditional on the stored status
being `waiting`, the same condition the dispatcher's claim (`waiting -> submitting`) writes on, so
a cancel racing a claim is one or the other: never a canceled job whose project was created.
The move goes through jobs/moves.py, so its reservation is released, its sweep entry and fair
queue entry dropped, and its callback announced, in the same write as the status.
"""

from __future__ import annotations

from pipeline.jobs import errors, moves
from pipeline.models.job import Job, JobError, JobStatus
from pipeline.platform import ids
from pipeline.store import jobs as job_store

CANCELED_BY_CLIENT = "canceled_by_client"


def canceled_by_client() -> JobError:
    return JobError(
        code=CANCELED_BY_CLIENT, message="canceled by the client before it was sent", source="submit"
    )


def cancel_job(client_id: str, job_id: str) -> Job:
    """The job, `canceled` by this or an earlier cancel. JobNotFound for another client's job;
    NotCancelable when it was sent to Magic Hour or ended another way (it is left unchanged)."""
    job = _own_job(client_id, job_id)
    if job.status is JobStatus.WAITING:
        moved = cancel_if_waiting(job)
        if moved is not None:
            return moved
        # Lost a race (the dispatcher claimed it, or another cancel ended it): answer what it is now.
        job = _own_job(client_id, job_id)
    if was_canceled_by_client(job):
        return job  # repeating the cancel that ended it: the same answer
    raise errors.NotCancelable(_why_not(job))


def cancel_if_waiting(job: Job) -> Job | None:
    """`waiting -> canceled`, conditional on the stored status; None when it is not waiting."""
    return moves.move(
        job, JobStatus.CANCELED, [JobStatus.WAITING], {"error": canceled_by_client().model_dump()}
    )


def was_canceled_by_client(job: Job) -> bool:
    return job.status is JobStatus.CANCELED and job.error is not None and job.error.code == CANCELED_BY_CLIENT


def _own_job(client_id: str, job_id: str) -> Job:
    if not ids.is_job_id(job_id):
        raise errors.JobNotFound()
    job = job_store.get_job(job_id)
    # Another client's job answers exactly like a missing one.
    if job is None or job.client_id != client_id:
        raise errors.JobNotFound()
    return job


def _why_not(job: Job) -> str:
    if job.status.is_terminal:
        return f"the job has already ended ({job.status.value}); a terminal job never changes"
    # Also a job still shown `waiting` whose create is in flight (job_view.shown_status).
    return "the job has been sent to Magic Hour, which has no cancellation API: it runs to its end"
