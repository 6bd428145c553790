"""The shapes a job's write takes: one conditional update returning the job, or the update in one
transaction with its slot, batch count and usage parts (store/usage.py's `transact`, the one
retry policy). Used by store/job_moves.py.
"""

from __future__ import annotations

from typing import Any

from botocore.exceptions import ClientError

from pipeline.models.job import Job
from pipeline.models.usage import OverBudget, UsageChange
from pipeline.store import dynamo, job_items, slots, usage
from pipeline.store.job_items import from_item
from pipeline.store.job_reads import get_job


class SlotRefused(Exception):
    """The slot part of a job's transaction failed its condition (nothing was written)."""


def transact(parts: list[dict[str, Any]]) -> None:
    # The table resource's client takes plain Python values, like the resource itself.
    job_items.table().meta.client.transact_write_items(TransactItems=parts)


def update_returning(update: dict[str, Any]) -> Job | None:
    """The job after `update`, or None when its condition did not hold (nothing written)."""
    try:
        answer = job_items.table().update_item(**update, ReturnValues="ALL_NEW")
    except ClientError as error:
        if dynamo.is_condition_failure(error):
            return None
        raise
    return from_item(answer["Attributes"])


def with_usage(
    job: Job, update: dict[str, Any], others: list[dict[str, Any]], changes: tuple[UsageChange, ...]
) -> Job | None:
    """The job's update with `others` and its usage changes in one transaction: the job as it
    stands, or None when the job's own condition failed. OverBudget when a reservation did not
    fit; a condition of `others` failing raises SlotRefused."""
    failed = usage.transact(
        [
            {"Update": {"TableName": job_items.table().name, **update}},
            *others,
            *(usage.part(c) for c in changes),
        ],
        transact,
    )
    if failed is None:
        return get_job(job.job_id)
    if failed[0]:
        return None
    if any(failed[1 + len(others) :]):
        raise OverBudget(job.client_id)
    raise SlotRefused(job.job_id)


def releasing(
    job: Job,
    slot: int,
    update: dict[str, Any],
    changes: tuple[UsageChange, ...],
    counted: list[dict[str, Any]],
) -> Job | None:
    try:
        return with_usage(job, update, [slots.give_back(slot, job.job_id), *counted], changes)
    except SlotRefused:
        # The slot was already reclaimed (the sweep found it stale): move the job alone.
        if changes or counted:
            return with_usage(job, update, counted, changes)
        return update_alone(job, update)


def update_alone(job: Job, update: dict[str, Any]) -> Job | None:
    try:
        job_items.table().update_item(**update)
    except ClientError as inner:
        if dynamo.is_condition_failure(inner):
            return None
        raise
    return get_job(job.job_id)
