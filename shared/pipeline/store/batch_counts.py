"""A batch's per-status counts, moved in the same transaction as each of its jobs' moves.

The batch item lives in the clients table (the client's partition, item `batch#<batch_id>`), its
counts as one number per status (`n_waiting`, ...). A batch job's move takes one from the status
it leaves and adds one to the one it enters, in the job's own transaction (store/jobs.py), so the
counts always add up to the batch's total and agree with the jobs without ever scanning them. The
part has no condition of its own: a job's move is never refused because of its batch.

The batch's `credits_charged` moves the same way: the sum of the `charged` deltas of its jobs'
usage changes (jobs/reservations.py: a charge, Magic Hour's later word on it, a refund), added in
the transaction that writes them, so it is exactly what its jobs count in GET /v1/usage.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from pipeline.models.job import JobStatus
from pipeline.models.usage import UsageChange
from pipeline.platform.timeutil import now_iso
from pipeline.store import clients

ITEM_PREFIX = "batch#"
CHARGED = "credits_charged"


def batch_item(batch_id: str) -> str:
    return f"{ITEM_PREFIX}{batch_id}"


def count_field(status: JobStatus) -> str:
    return f"n_{status.value}"


def move_part(
    client_id: str, batch_id: str, was: JobStatus, to: JobStatus, charged: int = 0
) -> dict[str, Any]:
    """The transaction item that moves one job of the batch from `was` to `to`, and adds
    `charged` (that move's usage change) to the batch's credits."""
    part = charge_part(client_id, batch_id, charged)
    update = part["Update"]
    update["UpdateExpression"] = update["UpdateExpression"].replace("ADD ", "ADD #was :minus, #to :one, ", 1)
    update["ExpressionAttributeNames"].update({"#was": count_field(was), "#to": count_field(to)})
    update["ExpressionAttributeValues"].update({":minus": -1, ":one": 1})
    return part


def charge_part(client_id: str, batch_id: str, charged: int) -> dict[str, Any]:
    """The transaction item that adds `charged` credits (a negative refund) to the batch's sum."""
    return {
        "Update": {
            "TableName": clients.table().name,
            "Key": {"client_id": client_id, "item": batch_item(batch_id)},
            "UpdateExpression": "ADD #charged :charged SET updated_at = :now",
            "ExpressionAttributeNames": {"#charged": CHARGED},
            "ExpressionAttributeValues": {":charged": charged, ":now": now_iso()},
        }
    }


def charged_by(changes: Iterable[UsageChange]) -> int:
    """What a move's usage changes add to the credits charged (a refund takes away)."""
    return sum(change.charged for change in changes)


def credits_of(item: dict[str, Any]) -> int:
    return int(item.get(CHARGED, 0))


def counts_of(item: dict[str, Any]) -> dict[str, int]:
    """The counts a batch item holds, every status present (0 when none of its jobs is there)."""
    return {status.value: int(item.get(count_field(status), 0)) for status in JobStatus}
