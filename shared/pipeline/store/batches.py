"""Batch items: one per batch in its client's partition of the clients table (`batch#<id>`),
beside the counts its jobs' moves keep (store/batch_counts.py)."""

from __future__ import annotations

from typing import Any

from boto3.dynamodb.conditions import Key
from botocore.exceptions import ClientError

from pipeline.models.job import JobStatus
from pipeline.models.usage import OverBudget, UsageChange
from pipeline.store import batch_counts, clients, dynamo, usage
from pipeline.store import cursor as cursor_codec

LIST_INDEX = "ClientBatchesIndex"
LIST_PARTITION, LIST_SORT = "batch_client", "batch_created"


def get_batch(client_id: str, batch_id: str) -> dict[str, Any] | None:
    """The client's batch item; another client's batch is simply not in this partition."""
    return clients.get_item(client_id, batch_counts.batch_item(batch_id))


def list_batches(client_id: str, limit: int, cursor: str | None) -> tuple[list[dict[str, Any]], str | None]:
    """A page of the client's batches, newest first, and the cursor of the next (None: the last).
    A query of the client's own partition of the index: never a scan, never another's batch."""
    query: dict[str, Any] = {
        "IndexName": LIST_INDEX,
        "KeyConditionExpression": Key(LIST_PARTITION).eq(client_id),
        "ScanIndexForward": False,
        "Limit": limit,
    }
    if cursor:
        query["ExclusiveStartKey"] = cursor_codec.decode_batch_key(cursor, client_id)
    answer = clients.table().query(**query)
    last_key = answer.get("LastEvaluatedKey")
    next_cursor = cursor_codec.encode(last_key, client_id, cursor_codec.BATCH_SCOPE) if last_key else None
    return list(answer.get("Items", [])), next_cursor


def put_new_batch(item: dict[str, Any], reservation: UsageChange) -> bool:
    """Write a batch that must not exist yet, `validating` with every job counted `waiting`,
    and reserve its whole estimate in the same transaction. False when it exists already (then
    nothing is reserved); OverBudget when the estimate does not fit (then nothing is written)."""
    fields = {
        **{k: v for k, v in item.items() if k != "client_id"},
        "status": "validating",
        batch_counts.count_field(JobStatus.WAITING): item["total"],
        # The keys of ClientBatchesIndex (GET /v1/batches, newest first).
        LIST_PARTITION: item["client_id"],
        LIST_SORT: f"{item['created_at']}#{item['batch_id']}",
    }
    expression, names, values = dynamo.update_expression(fields, [])
    names["#i"] = "item"
    # An update that creates the item (the function's role updates the clients table; it puts
    # nothing there), refused when the batch exists.
    put = {
        "Update": {
            "TableName": clients.table().name,
            "Key": {"client_id": item["client_id"], "item": batch_counts.batch_item(item["batch_id"])},
            "UpdateExpression": expression,
            "ConditionExpression": "attribute_not_exists(#i)",
            "ExpressionAttributeNames": names,
            "ExpressionAttributeValues": values,
        }
    }
    failed = usage.transact([put, usage.part(reservation)])
    if failed is None:
        return True
    if failed[0]:
        return False
    raise OverBudget(item["client_id"])


def mark_running(client_id: str, batch_id: str, now: str) -> None:
    """Every job of the batch is written: from `validating` to `running` (once)."""
    try:
        clients.table().update_item(
            Key={"client_id": client_id, "item": batch_counts.batch_item(batch_id)},
            UpdateExpression="SET #s = :running, updated_at = :now",
            ConditionExpression="#s = :validating",
            ExpressionAttributeNames={"#s": "status"},
            ExpressionAttributeValues={":running": "running", ":validating": "validating", ":now": now},
        )
    except ClientError as error:
        if not dynamo.is_condition_failure(error):
            raise
    # Its jobs may all have ended while it was still `validating`: none of their moves ended it.
    end_if_done(client_id, batch_id, now)


TERMINAL = (JobStatus.COMPLETED, JobStatus.FAILED, JobStatus.CANCELED)


def end_if_done(client_id: str, batch_id: str, now: str) -> bool:
    """End a running batch whose every job is terminal (`completed`, or `canceled` after a
    cancel). Read after the job's own move was written, so the last job to end always sees every
    ending; two last moves at once end it once (the write is conditional on `running`)."""
    item = get_batch(client_id, batch_id)
    if item is None or item.get("status") != "running":
        return False
    counts = batch_counts.counts_of(item)
    if sum(counts[status.value] for status in TERMINAL) < int(item["total"]):
        return False
    ending = "canceled" if item.get("cancel_requested") else "completed"
    try:
        clients.table().update_item(
            Key={"client_id": client_id, "item": batch_counts.batch_item(batch_id)},
            UpdateExpression="SET #s = :ending, ended_at = :now, updated_at = :now",
            ConditionExpression="#s = :running",
            ExpressionAttributeNames={"#s": "status"},
            ExpressionAttributeValues={":ending": ending, ":running": "running", ":now": now},
        )
    except ClientError as error:
        if dynamo.is_condition_failure(error):
            return False
        raise
    return True


ENDED = ("completed", "canceled", "rejected")


def request_cancel(client_id: str, batch_id: str, now: str) -> bool:
    """Mark a batch not yet ended as canceled by its client: it ends `canceled` rather than
    `completed`. False when it has ended already (nothing written)."""
    try:
        clients.table().update_item(
            Key={"client_id": client_id, "item": batch_counts.batch_item(batch_id)},
            UpdateExpression="SET cancel_requested = :yes, updated_at = :now",
            ConditionExpression="#s IN (:validating, :running)",
            ExpressionAttributeNames={"#s": "status"},
            ExpressionAttributeValues={
                ":yes": True,
                ":now": now,
                ":validating": "validating",
                ":running": "running",
            },
        )
    except ClientError as error:
        if dynamo.is_condition_failure(error):
            return False
        raise
    return True
