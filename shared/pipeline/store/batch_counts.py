"""A batch's per-status counts, moved in the same transaction as each of its jobs' moves.

The batch item lives in the clients table (the client's partition, item `batch#<batch_id>`), its
counts as one number per status (`n_waiting`, ...). A batch job's move takes one from the status
it leaves and adds one to the one it enters, in the job's own transaction (store/jobs.py), so the
counts always add up to the batch's total and agree with the jobs without ever scanning them. The
part has no condition of its own: a job's move is never refused because of its batch.
"""

from __future__ import annotations

from typing import Any

from pipeline.models.job import JobStatus
from pipeline.platform.timeutil import now_iso
from pipeline.store import clients

ITEM_PREFIX = "batch#"


def batch_item(batch_id: str) -> str:
    return f"{ITEM_PREFIX}{batch_id}"


def count_field(status: JobStatus) -> str:
    return f"n_{status.value}"


def move_part(client_id: str, batch_id: str, was: JobStatus, to: JobStatus) -> dict[str, Any]:
    """The transaction item that moves one job of the batch from `was` to `to`."""
    return {
        "Update": {
            "TableName": clients.table().name,
            "Key": {"client_id": client_id, "item": batch_item(batch_id)},
            "UpdateExpression": "ADD #was :minus, #to :one SET updated_at = :now",
            "ExpressionAttributeNames": {"#was": count_field(was), "#to": count_field(to)},
            "ExpressionAttributeValues": {":minus": -1, ":one": 1, ":now": now_iso()},
        }
    }


def counts_of(item: dict[str, Any]) -> dict[str, int]:
    """The counts a batch item holds, every status present (0 when none of its jobs is there)."""
    return {status.value: int(item.get(count_field(status), 0)) for status in JobStatus}
