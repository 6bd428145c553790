"""Writing a batch's jobs, resumably (CONTRACT §1 "Batches"; docs/design.md "Manifest batches").

The jobs are written in the batch's order, a chunk at a time: one call takes the chunk's fair
rounds (store/fair_queue.next_rounds_for), the chunk's jobs are written at once by a few threads
(one conditional put each: the job id follows from the batch and the index, so a job is never
written twice), and the batch item notes how far it got (`jobs_written`). Whoever resumes the
batch (a retry with the same Idempotency-Key, the sweep) skips what is noted and rewrites at most
one chunk, each of whose jobs is then refused as existing.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import ThreadPoolExecutor
from itertools import islice

from pipeline.jobs import bookkeeping
from pipeline.models.job import Job, JobStatus
from pipeline.platform import ids
from pipeline.platform.timeutil import now_iso
from pipeline.store import batches, fair_queue
from pipeline.store import jobs as job_store
from pipeline.submit.batch_request import BatchItem

CHUNK = 100
WRITERS = 8


def write_jobs(
    client_id: str,
    batch_id: str,
    today: str,
    items: Iterable[tuple[int, BatchItem]],
    start: int,
    time_left: Callable[[], bool],
) -> bool:
    """Write the jobs from index `start` on; False when `time_left` said stop before the last."""
    pending = ((index, item) for index, item in items if index >= start)
    with ThreadPoolExecutor(WRITERS) as pool:
        for chunk in _chunks(pending):
            if not time_left():
                return False
            first_round = fair_queue.next_rounds_for(client_id, len(chunk))
            now = now_iso()
            jobs = [
                _job(client_id, batch_id, today, index, item, first_round + offset, now)
                for offset, (index, item) in enumerate(chunk)
            ]
            # Each False is a job written by an earlier try: nothing to do.
            list(pool.map(lambda job: job_store.put_new_job(job, bookkeeping.first_check_at()), jobs))
            batches.note_written(client_id, batch_id, chunk[-1][0] + 1)
    return True


def _chunks(pending: Iterator[tuple[int, BatchItem]]) -> Iterator[list[tuple[int, BatchItem]]]:
    while chunk := list(islice(pending, CHUNK)):
        yield chunk


def _job(
    client_id: str, batch_id: str, today: str, index: int, item: BatchItem, round_: int, now: str
) -> Job:
    request = item.submission.request
    job_id = ids.job_id_in_batch(batch_id, index)
    return Job(
        job_id=job_id,
        client_id=client_id,
        tool=request.tool,
        kind=item.submission.tool.kind,
        status=JobStatus.WAITING,
        name=request.name,
        metadata=request.metadata,
        callback_url=request.callback_url,
        created_at=now,
        updated_at=now,
        request_fingerprint=item.submission.fingerprint,
        magic_hour_name=ids.project_name_for(job_id, request.name or request.tool),
        input=request.input,
        callback_state="pending" if request.callback_url else None,
        fair_key=fair_queue.fair_key(round_, now, job_id),
        # Its share of the batch's reservation, already counted on the day by the batch's write.
        reserved_credits=item.estimate,
        budget_day=today,
        batch_id=batch_id,
        custom_id=item.custom_id,
        ordinal=index,
    )
