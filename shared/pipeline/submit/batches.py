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
import zlib
from collections.abc import Callable, Iterable
from typing import Any

from pipeline.jobs import batch_view, budgets, errors, moves
from pipeline.jobs.job_view import to_resource as to_job_resource
from pipeline.models.api import BatchList, JobList, JobResource
from pipeline.models.job import JobStatus
from pipeline.models.usage import OverBudget, UsageChange
from pipeline.platform import ids
from pipeline.platform.settings import get_settings
from pipeline.platform.timeutil import now_iso
from pipeline.store import batches, usage
from pipeline.store import cursor as cursor_codec
from pipeline.store import inputs as input_store
from pipeline.store import jobs as job_store
from pipeline.submit import batch_writer, cancel, manifest, queries
from pipeline.submit.batch_request import BatchItem, BatchSubmission, parse_inline_batch


def create_batch(batch: BatchSubmission, time_left: Callable[[], bool] = lambda: True) -> dict[str, Any]:
    """The batch, written with its reservation, and as many of its jobs as `time_left` allows:
    `running` when all are, else still `validating` (a retry with the same key, or the sweep,
    writes the rest: `resume`)."""
    client_id = batch.client_id
    if batch.idempotency_key is not None:
        batch_id = ids.batch_id_for_idempotency_key(client_id, batch.idempotency_key)
    else:
        batch_id = ids.new_batch_id()
    existing = batches.get_batch(client_id, batch_id)
    if existing is None:
        existing = _put_new(batch, batch_id)
    if existing.get("request_fingerprint") != batch.fingerprint:
        raise errors.IdempotencyConflict()
    if existing.get("status") != "validating":
        return existing
    items = None if batch.manifest else list(enumerate(batch.items))  # in hand: not parsed again
    return resume(existing, time_left, items)


def _put_new(batch: BatchSubmission, batch_id: str) -> dict[str, Any]:
    """Write the batch `validating` and reserve its whole estimate, or refuse it (402); the batch
    as stored (another request's, when it won the race to write it)."""
    client_id, now, today = batch.client_id, now_iso(), budgets.utc_today()
    item = _item(batch, batch_id, now, today)
    budget = usage.budget_of(client_id)
    within = None if budget is None else budget - batch.estimate
    # Refused before the manifest's copy is made, so a 402 leaves no object behind. The write below
    # still decides under concurrency: only a batch that loses a race for the last credits leaves
    # its copy (under its own key, which a retry with the same Idempotency-Key writes again).
    if within is not None and (within < 0 or usage.usage_of(client_id, today).committed > within):
        raise budgets.refusal(client_id, today, budget or 0, batch.estimate)
    if batch.manifest is not None:
        # The validated bytes, to a key no client can write; refused if the upload changed since.
        item["manifest_key"] = manifest.copy_key(client_id, batch_id)
        try:
            input_store.copy_if_unchanged(
                batch.manifest.bucket, batch.manifest.key, batch.manifest.etag, item["manifest_key"]
            )
        except input_store.ObjectChanged:
            raise manifest.refuse("the manifest changed while it was read: submit the batch again") from None
    reservation = UsageChange(client_id, today, reserved=batch.estimate, within=within)
    try:
        if within is not None and within < 0:
            raise OverBudget(client_id)
        batches.put_new_batch(item, reservation)
    except OverBudget:
        raise budgets.refusal(client_id, today, budget or 0, batch.estimate) from None
    stored = batches.get_batch(client_id, batch_id)
    assert stored is not None  # narrows the type; written above  # nosec B101
    return stored


def resume(
    item: dict[str, Any],
    time_left: Callable[[], bool],
    items: Iterable[tuple[int, BatchItem]] | None = None,
) -> dict[str, Any]:
    """Write a `validating` batch's jobs not written yet, then move it to `running`. Its jobs come
    from `items`, or else from what the batch item kept: the inline request, the manifest's copy."""
    client_id, batch_id = str(item["client_id"]), str(item["batch_id"])
    if items is None:
        items = _kept_items(item)
    today = str(item.get("budget_day") or budgets.utc_today())
    start = int(item.get("jobs_written", 0))
    if batch_writer.write_jobs(client_id, batch_id, today, items, start, time_left):
        batches.mark_running(client_id, batch_id, now_iso())
        moves.wake_dispatcher()
        _cancel_late_jobs(client_id, batch_id)
    found = batches.get_batch(client_id, batch_id)
    assert found is not None  # narrows the type; written above  # nosec B101
    return found


def _kept_items(item: dict[str, Any]) -> Iterable[tuple[int, BatchItem]]:
    client_id, https = str(item["client_id"]), get_settings().require_https_callbacks
    if item.get("manifest_key"):
        bucket = get_settings().require("input_bucket_name")
        return manifest.items_of(client_id, bucket, str(item["manifest_key"]), https)
    raw = zlib.decompress(bytes(item["inline_request"]))
    return enumerate(parse_inline_batch(client_id, raw, None, https).items)


def _cancel_late_jobs(client_id: str, batch_id: str) -> None:
    """A cancel while the batch was `validating` cancels what was written by then; what was written
    after it is cancelled here: the cancel marked the batch first, so this read sees the mark."""
    found = batches.get_batch(client_id, batch_id)
    if found is not None and found.get("cancel_requested"):
        _cancel_waiting(batch_id, int(found["total"]))
        batches.end_if_done(client_id, batch_id, now_iso())


def _item(batch: BatchSubmission, batch_id: str, now: str, today: str) -> dict[str, Any]:
    item: dict[str, Any] = {
        "client_id": batch.client_id,
        "batch_id": batch_id,
        "total": batch.total,
        "estimate": batch.estimate,
        # As JSON text: DynamoDB would hand its numbers back as Decimals.
        "metadata_json": json.dumps(batch.metadata, separators=(",", ":")),
        "callback_url": batch.callback_url,
        "created_at": now,
        "updated_at": now,
        "request_fingerprint": batch.fingerprint,
        "budget_day": today,
    }
    if batch.raw_body is not None:
        item["inline_request"] = zlib.compress(batch.raw_body)
    return item


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
    _cancel_waiting(batch_id, int(item["total"]))
    # Nothing was waiting and everything had ended already: no job's move ends the batch.
    batches.end_if_done(client_id, batch_id, now_iso())
    return get_batch(client_id, batch_id)


def _cancel_waiting(batch_id: str, total: int) -> None:
    for index in range(total):
        job = job_store.get_job(ids.job_id_in_batch(batch_id, index))
        if job is not None and job.status is JobStatus.WAITING:
            cancel.cancel_if_waiting(job)


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
