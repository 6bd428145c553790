"""A batch's ending, from the callback queue: its results file, then its one signed callback.

The task comes from the clients table's stream (the events function queues one per ending), so
an ending whose function died right after its write still gets both. Each step is idempotent: the
file has one key per batch and is rewritten whole until it is recorded, and the callback is sent
while it is still owed (`pending`), through the same signed, bounded delivery as a job's.
"""

from __future__ import annotations

import json
from collections import deque
from collections.abc import Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Any

from pipeline.callbacks import callbacks
from pipeline.jobs import batch_view
from pipeline.jobs.job_view import shown_status
from pipeline.models.job import Job
from pipeline.models.tasks import BatchEndTask
from pipeline.platform import ids
from pipeline.platform.observability import CALLBACKS, emit, logger
from pipeline.platform.redaction import for_client
from pipeline.platform.timeutil import now_iso
from pipeline.store import batches, outputs, results
from pipeline.store import jobs as job_store

ENDED = ("completed", "canceled")


def deliver(task: BatchEndTask) -> None:
    """Write the ended batch's results file (once recorded, never again), then send its callback
    if it has one still owed. Raises CallbackFailed or CallbackRefused as a job's callback does;
    anything else (S3, DynamoDB) is retried by the caller."""
    item = batches.get_batch(task.client_id, task.batch_id)
    if item is None or item.get("status") not in ENDED:
        return  # not ended (a stale task) or gone: nothing to report
    if not item.get("results_key"):
        write_results(item)
        item = batches.get_batch(task.client_id, task.batch_id) or item
    url = item.get("callback_url")
    if not url or item.get("callback_state") in ("delivered", "failed"):
        return
    payload = batch_view.with_results_url(item).model_dump_json()
    callbacks.send_signed(task.client_id, str(url), task.webhook_id, payload)
    emit(CALLBACKS, outcome="delivered")
    batches.record_callback_attempt(task.client_id, task.batch_id, "delivered", None)


def write_results(item: dict[str, Any]) -> int:
    """Stream the batch's results file to S3 and record it on the batch; its size in bytes."""
    client_id, batch_id = str(item["client_id"]), str(item["batch_id"])
    key = results.results_key(client_id, batch_id)
    size = results.write_lines(key, result_lines(batch_id, int(item["total"])))
    batches.record_results(client_id, batch_id, key, size, now_iso())
    logger.info("batch results written", extra={"batch_id": batch_id, "size_bytes": size})
    return size


# Pages of jobs read at once: the file's writing is bound by these reads (10,000 jobs are 100
# BatchGetItem calls), and one after another they outlast the function's 20 s timeout on a slow
# store (42 s for 10,000 on the local moto server, `python -m bench.results_file`). In order,
# with at most this many pages in memory.
READ_AHEAD = 8


def result_lines(batch_id: str, total: int) -> Iterator[bytes]:
    """One JSON line per job in the batch's order (a job's id follows from the batch and its
    position), read a page of BATCH_GET_KEYS at a time, READ_AHEAD pages in flight: memory holds
    those pages, never the batch."""
    size = job_store.BATCH_GET_KEYS
    pages = (range(start, min(start + size, total)) for start in range(0, total, size))
    in_flight: deque[tuple[list[str], Future[dict[str, Job]]]] = deque()
    with ThreadPoolExecutor(READ_AHEAD) as pool:
        for page in pages:
            wanted = [ids.job_id_in_batch(batch_id, i) for i in page]
            in_flight.append((wanted, pool.submit(job_store.get_jobs, wanted)))
            if len(in_flight) >= READ_AHEAD:
                yield from _page_lines(*in_flight.popleft())
        while in_flight:
            yield from _page_lines(*in_flight.popleft())


def _page_lines(wanted: list[str], read: Future[dict[str, Job]]) -> Iterator[bytes]:
    found = read.result()
    for job_id in wanted:
        job = found.get(job_id)
        if job is not None:  # every job of an ended batch is written; a gap stays out
            yield result_line(job)


def result_line(job: Job) -> bytes:
    line = {
        "custom_id": job.custom_id,
        "job_id": job.job_id,
        "status": shown_status(job).value,
        "outputs": [
            {
                "index": output.index,
                "s3_uri": outputs.s3_uri(output.s3_key),
                "size_bytes": output.size_bytes,
                "sha256": output.sha256,
            }
            for output in job.stored_outputs()
        ],
        "credits_charged": job.credits_charged,
        "error": job.error.model_dump() if job.error else None,
    }
    return (json.dumps(line, separators=(",", ":"), ensure_ascii=False) + "\n").encode()


def give_up(task: BatchEndTask, reason: str) -> None:
    emit(CALLBACKS, outcome="failed")
    batches.record_callback_attempt(task.client_id, task.batch_id, "failed", for_client(reason))


def note_failed_attempt(task: BatchEndTask, reason: str) -> None:
    batches.record_callback_attempt(task.client_id, task.batch_id, "pending", for_client(reason))
