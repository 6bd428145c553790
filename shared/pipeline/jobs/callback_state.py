"""A job's client callback as the rest of the pipeline sees it: queued when the job ends, and its
outcome recorded. Delivering it (the network, the signatures) is pipeline.callbacks.callbacks, which
only the callbacks function loads."""

from __future__ import annotations

from pipeline.jobs import bookkeeping
from pipeline.models.job import Job
from pipeline.models.tasks import CallbackTask
from pipeline.platform.observability import CALLBACKS, emit, logger
from pipeline.platform.redaction import for_client
from pipeline.store import callback_queue
from pipeline.store import jobs as job_store


def webhook_id_for(job: Job) -> str:
    """Stable across retries of one callback; a job that ends again (a download failure redriven
    to success) gets a new one, so receivers that drop repeats do not drop it."""
    return f"msg_{job.job_id}_{job.status.value}"


def announce_end(job: Job) -> None:
    """Queue the callback of a job that just ended. If this fails, the sweep queues it later:
    the job stays in its index while its callback is `pending` and not yet queued."""
    if not job.callback_url or job.callback_state != "pending":
        return
    try:
        callback_queue.send_callback_task(
            CallbackTask(job_id=job.job_id, webhook_id=webhook_id_for(job), client_id=job.client_id)
        )
        job_store.mark_callback_queued(job.job_id)
    except Exception:
        logger.exception("could not queue the callback; the sweep will", extra={"job_id": job.job_id})


def give_up(job_id: str, reason: str) -> None:
    emit(CALLBACKS, outcome="failed")
    job_store.record_callback_attempt(
        job_id, "failed", for_client(reason), bookkeeping.for_callback_attempt("failed")
    )


def note_failed_attempt(job_id: str, reason: str) -> None:
    job_store.record_callback_attempt(
        job_id, "pending", for_client(reason), bookkeeping.for_callback_attempt("pending")
    )
