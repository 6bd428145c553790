"""Creating an inline batch and reading it back (CONTRACT §1 "Batches").

The batch's whole estimate is reserved with one conditional write, together with the batch item
(`validating`, every job counted `waiting`), so a batch that does not fit is `402
budget_exceeded` with nothing written. Then each job is written `waiting` holding its own share of
that reservation (so its moves release or settle it as any job's do), with an id derived from the
batch and its index: a retry with the same Idempotency-Key writes the missing ones and never a
job twice. Last the batch moves to `running`. The jobs go through the same fair queue and
dispatcher as every other job.
"""

from __future__ import annotations

import json
from typing import Any

from pipeline.jobs import batch_view, bookkeeping, budgets, errors, moves
from pipeline.jobs.job_view import to_resource as to_job_resource
from pipeline.models.api import BatchList, JobList, JobResource
from pipeline.models.job import Job, JobStatus
from pipeline.models.usage import OverBudget, UsageChange
from pipeline.platform import ids
from pipeline.platform.timeutil import now_iso
from pipeline.store import batches, fair_queue, usage
from pipeline.store import cursor as cursor_codec
from pipeline.store import jobs as job_store
from pipeline.submit import cancel, queries
from pipeline.submit.batch_request import BatchSubmission


def create_batch(batch: BatchSubmission) -> dict[str, Any]:
    client_id = batch.client_id
    if batch.idempotency_key is not None:
        batch_id = ids.batch_id_for_idempotency_key(client_id, batch.idempotency_key)
    else:
        batch_id = ids.new_batch_id()
    now, today = now_iso(), budgets.utc_today()
    existing = batches.get_batch(client_id, batch_id)
    if existing is None:
        budget = usage.budget_of(client_id)
        within = None if budget is None else budget - batch.estimate
        reservation = UsageChange(client_id, today, reserved=batch.estimate, within=within)
        try:
            if within is not None and within < 0:
                raise OverBudget(client_id)
            written = batches.put_new_batch(_item(batch, batch_id, now, today), reservation)
        except OverBudget:
            raise budgets.refusal(client_id, today, budget or 0, batch.estimate) from None
        existing = batches.get_batch(client_id, batch_id) if not written else None
    if existing is not None:
        if existing.get("request_fingerprint") != batch.fingerprint:
            raise errors.IdempotencyConflict()
        if existing.get("status") != "validating":
            return existing
        today = str(existing.get("budget_day") or today)
    _write_jobs(batch, batch_id, today)
    batches.mark_running(client_id, batch_id, now_iso())
    moves.wake_dispatcher()
    found = batches.get_batch(client_id, batch_id)
    assert found is not None  # narrows the type; written above  # nosec B101
    return found


def _item(batch: BatchSubmission, batch_id: str, now: str, today: str) -> dict[str, Any]:
    return {
        "client_id": batch.client_id,
        "batch_id": batch_id,
        "total": len(batch.items),
        # As JSON text: DynamoDB would hand its numbers back as Decimals.
        "metadata_json": json.dumps(batch.metadata, separators=(",", ":")),
        "callback_url": batch.callback_url,
        "created_at": now,
        "updated_at": now,
        "request_fingerprint": batch.fingerprint,
        "budget_day": today,
    }


def _write_jobs(batch: BatchSubmission, batch_id: str, today: str) -> None:
    for index, item in enumerate(batch.items):
        request = item.submission.request
        job_id = ids.job_id_in_batch(batch_id, index)
        now = now_iso()
        job = Job(
            job_id=job_id,
            client_id=batch.client_id,
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
            fair_key=fair_queue.fair_key(fair_queue.next_round_for(batch.client_id), now, job_id),
            # Its share of the batch's reservation, already counted on the day by the batch's write.
            reserved_credits=item.estimate,
            budget_day=today,
            batch_id=batch_id,
            custom_id=item.custom_id,
        )
        job_store.put_new_job(job, bookkeeping.first_check_at())  # False: written by a first try


def get_batch(client_id: str, batch_id: str) -> dict[str, Any]:
    if not ids.is_batch_id(batch_id):
        raise errors.BatchNotFound()
    found = batches.get_batch(client_id, batch_id)
    if found is None:
        raise errors.BatchNotFound()
    return found


def list_batches(client_id: str, limit: str | None, cursor: str | None) -> BatchList:
    """The client's batches, newest first (`limit` as for jobs)."""
    _, page_size = queries.parse_list_query(None, limit)
    try:
        items, next_cursor = batches.list_batches(client_id, page_size, cursor or None)
    except cursor_codec.InvalidCursor as exc:
        raise errors.InvalidCursor(str(exc)) from exc
    return BatchList(batches=[batch_view.to_resource(item) for item in items], next_cursor=next_cursor)


def cancel_batch(client_id: str, batch_id: str) -> dict[str, Any]:
    """Every job of the batch still `waiting` ends `canceled` (canceled_by_client); jobs already at
    Magic Hour run to their end, and the batch ends `canceled` with the last of them. Repeating it
    while the batch runs is harmless; once the batch has ended it is NotCancelable."""
    item = get_batch(client_id, batch_id)
    if not batches.request_cancel(client_id, batch_id, now_iso()):
        raise errors.NotCancelable(f"the batch has already ended ({item.get('status')})")
    for index in range(int(item["total"])):
        job = job_store.get_job(ids.job_id_in_batch(batch_id, index))
        if job is not None and job.status is JobStatus.WAITING:
            cancel.cancel_if_waiting(job)
    # Nothing was waiting and everything had ended already: no job's move ends the batch.
    batches.end_if_done(client_id, batch_id, now_iso())
    return get_batch(client_id, batch_id)


# A page with a status filter reads at most this many of the batch's jobs, so one request stays
# bounded whatever the filter matches; the cursor goes on from there.
MAX_READS_PER_PAGE = 500


def list_batch_jobs(
    client_id: str, batch_id: str, status: str | None, limit: str | None, cursor: str | None
) -> JobList:
    """The batch's jobs in the batch's order (their ids follow from the batch and the index, so
    no index is queried), optionally of one shown status."""
    item = get_batch(client_id, batch_id)
    status_filter, page_size = queries.parse_list_query(status, limit)
    scope = f"batch:{batch_id}:{status_filter.value if status_filter else ''}"
    try:
        position = cursor_codec.decode_position(cursor, client_id, scope) if cursor else 0
    except cursor_codec.InvalidCursor as exc:
        raise errors.InvalidCursor(str(exc)) from exc
    total, reads = int(item["total"]), 0
    found: list[JobResource] = []
    while position < total and len(found) < page_size and reads < MAX_READS_PER_PAGE:
        job = job_store.get_job(ids.job_id_in_batch(batch_id, position))
        position, reads = position + 1, reads + 1
        if job is None:
            continue  # not written yet (the batch is still validating)
        resource = to_job_resource(job)
        if status_filter is None or resource.status == status_filter.value:
            found.append(resource)
    next_cursor = cursor_codec.encode({"i": str(position)}, client_id, scope) if position < total else None
    return JobList(jobs=found, next_cursor=next_cursor)
