"""From a change to an event: a jobs-table stream record becomes `Job Status Changed`, a batch
that ended becomes `Batch Ended`.

Only a change of `status` is an event. The table's other writes (the sweep's next check, a
callback attempt, an output recorded while `downloading`) change the item but not the status, and
publish nothing; a removed item (TTL expiry) publishes nothing either.
"""

from __future__ import annotations

import contextlib
import json
from collections.abc import Mapping
from datetime import datetime
from decimal import Decimal
from typing import Any

from boto3.dynamodb.types import TypeDeserializer

from pipeline.events.models import (
    BATCH_ENDED,
    JOB_STATUS_CHANGED,
    SOURCE,
    BatchEnded,
    EventBatch,
    EventJob,
    EventOutput,
    JobStatusChanged,
)
from pipeline.jobs import batch_view, job_view
from pipeline.models.job import Job, StoredOutput
from pipeline.platform import ids
from pipeline.platform.timeutil import epoch_seconds
from pipeline.store import batch_counts, outputs

# A batch's endings (CONTRACT §1 "Batches"): its status moves validating -> running -> completed,
# or ends rejected or canceled.
BATCH_ENDINGS = frozenset({"completed", "rejected", "canceled"})
_DESERIALIZER = TypeDeserializer()


class NotAJob(ValueError):
    """A stream record whose image is not a job the pipeline can read (a bug, never skipped)."""


def image(record: Mapping[str, Any], which: str) -> dict[str, Any] | None:
    """`NewImage` / `OldImage` of a DynamoDB stream record, as plain Python values."""
    raw = (record.get("dynamodb") or {}).get(which)
    if not raw:
        return None
    return {name: _DESERIALIZER.deserialize(value) for name, value in raw.items()}


def job_from_image(item: Mapping[str, Any]) -> Job:
    # As the job store reads an item (store/jobs.py): JSON-held fields are strings in the table.
    data = dict(item)
    try:
        data["metadata"] = json.loads(data.pop("metadata_json", "{}") or "{}")
        data["input"] = json.loads(data.pop("input_json", "{}") or "{}")
        return Job.model_validate(data)
    except ValueError as error:
        raise NotAJob(f"job {item.get('job_id')!r}: {error}") from None


def job_status_changed(record: Mapping[str, Any]) -> JobStatusChanged | None:
    """The event a stream record reports, or None when the status clients see did not change.

    The status is the one the API shows (jobs/job_view.shown_status: a job whose create is in
    flight shows `waiting`, though stored `submitting`), as of the write itself, so a record
    delivered again maps to the same event, and statuses only move forward: a create answered
    429 takes the stored status back to `waiting`, which the client never saw leave."""
    new = image(record, "NewImage")
    # Only jobs: another kind of item in the table (batches, #28, if they are kept there) is
    # mapped by its own function (batch_ended), never mistaken for an unreadable job.
    if new is None or not ids.is_job_id(str(new.get("job_id", ""))):
        return None
    at = write_time(record)
    job = job_from_image(new)
    status = job_view.shown_status(job, at)
    old = image(record, "OldImage")
    previous = job_view.shown_status(job_from_image(old), at) if old else None
    if previous == status:
        return None
    resource = event_job(job).model_copy(update={"status": status.value})
    return JobStatusChanged(
        job=resource,
        previous_status=previous.value if previous is not None else None,
        client_id=job.client_id,
    )


def write_time(record: Mapping[str, Any]) -> int:
    """When the change was written: the stream's ApproximateCreationDateTime (epoch seconds)."""
    created = (record.get("dynamodb") or {}).get("ApproximateCreationDateTime")
    return int(created) if isinstance(created, (int, float, Decimal)) else epoch_seconds()


def event_job(job: Job) -> EventJob:
    """The API's job resource without download URLs: the API's own view without its outputs (so
    no URL is ever presigned here), and the outputs by where they are."""
    fields = job_view.without_outputs(job).model_dump()
    fields["outputs"] = [_output(output) for output in job.stored_outputs()]
    fields["late_outputs"] = [_output(output) for output in job.stored_late_outputs()]
    return EventJob.model_validate(fields)


def _output(output: StoredOutput) -> EventOutput:
    return EventOutput(
        index=output.index,
        s3_uri=outputs.s3_uri(output.s3_key),
        size_bytes=output.size_bytes,
        content_type=output.content_type,
        sha256=output.sha256,
    )


def batch_ended(previous_status: str | None, batch: Mapping[str, Any], client_id: str) -> BatchEnded | None:
    """The event for a batch whose status moved from `previous_status` to `batch["status"]`, or None
    unless that move is its ending. `batch` is the batch resource as the API answers it."""
    status = batch.get("status")
    if status not in BATCH_ENDINGS or previous_status == status:
        return None
    fields = {key: _plain(value) for key, value in batch.items() if key != "results_url"}
    return BatchEnded(batch=EventBatch.model_validate(fields), client_id=client_id)


def batch_record_ended(record: Mapping[str, Any]) -> BatchEnded | None:
    """The `Batch Ended` a clients-table stream record reports, or None: only a batch item
    (`batch#<id>`) whose status moved into an ending publishes; profiles, usage and counts-only
    writes (a job's move) publish nothing. The resource is the one GET /v1/batches/{id} renders,
    as of the write itself, so a record delivered again maps to the same event."""
    new = image(record, "NewImage")
    if new is None or not str(new.get("item", "")).startswith(batch_counts.ITEM_PREFIX):
        return None
    # The batch's first write (its reservation's part) carries no status yet: not an ending.
    if "status" not in new:
        return None
    old = image(record, "OldImage")
    previous = str(old["status"]) if old and "status" in old else None
    try:
        resource = batch_view.to_resource(new).model_dump(mode="json")
    except (KeyError, ValueError) as error:
        raise NotAJob(f"batch item {new.get('item')!r}: {error}") from None
    return batch_ended(previous, resource, str(new["client_id"]))


def _plain(value: Any) -> Any:
    # A resource read back from DynamoDB carries Decimals, which JSON does not.
    if isinstance(value, Decimal):
        return int(value) if value == value.to_integral_value() else float(value)
    if isinstance(value, dict):
        return {key: _plain(item) for key, item in value.items()}
    if isinstance(value, list):
        return [_plain(item) for item in value]
    return value


def entry(detail: JobStatusChanged | BatchEnded, bus_name: str) -> dict[str, Any]:
    """One PutEvents entry. `Time` is the change's own time, not the publishing time, so a
    re-delivered change keeps its time."""
    if isinstance(detail, JobStatusChanged):
        detail_type, time = JOB_STATUS_CHANGED, detail.job.updated_at
    else:
        detail_type, time = BATCH_ENDED, detail.batch.updated_at
    entry: dict[str, Any] = {
        "Source": SOURCE,
        "DetailType": detail_type,
        "Detail": detail.model_dump_json(),
        "EventBusName": bus_name,
    }
    # Unparseable: EventBridge stamps the publishing time instead; the detail keeps updated_at.
    with contextlib.suppress(ValueError):
        entry["Time"] = datetime.fromisoformat(time.replace("Z", "+00:00"))
    return entry
