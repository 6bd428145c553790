"""Moving a job in the jobs table: its first write, its status moves, and the slot, batch count
and usage parts each move carries in the same transaction.

Every move names the statuses it may start from, so a duplicate or late event can never move a
job backwards: DynamoDB refuses the write and the caller learns nothing changed (None).
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from botocore.exceptions import ClientError

from pipeline.models.job import Bookkeeping, Job, JobError, JobStatus
from pipeline.models.usage import OverBudget, UsageChange
from pipeline.platform.timeutil import now_iso
from pipeline.store import batch_counts, dynamo, job_items, job_transactions, slots, usage
from pipeline.store.job_items import WAITING, to_item, update_expression
from pipeline.store.job_reads import get_job

# A batch job's move made from the status read is refused when another move got there first; it
# is made again from the job as it stands (each retry follows a real move, so a few suffice).
_BATCH_MOVE_ATTEMPTS = 4


def put_new_job(job: Job, next_check_at: int | None, changes: tuple[UsageChange, ...] = ()) -> bool:
    """Write a job that must not exist yet, for the sweep to look at `next_check_at` (never, when
    None), with its usage `changes` (its reservation) in the same transaction. False when a job
    with that id is already there (then nothing is reserved); OverBudget when the reservation did
    not fit (then no job is written)."""
    put: dict[str, Any] = {
        "TableName": job_items.table().name,
        "Item": to_item(job, next_check_at),
        "ConditionExpression": "attribute_not_exists(job_id)",
    }
    if changes:
        failed = usage.transact(
            [{"Put": put}, *(usage.part(change) for change in changes)], job_transactions.transact
        )
        if failed is None:
            return True
        if failed[0]:
            return False
        raise OverBudget(job.client_id)
    try:
        job_items.table().put_item(Item=put["Item"], ConditionExpression=put["ConditionExpression"])
    except ClientError as error:
        if dynamo.is_condition_failure(error):
            return False
        raise
    return True


def delete_submitting_job(job: Job, changes: tuple[UsageChange, ...] = ()) -> None:
    """Remove a job whose create certainly made nothing at Magic Hour (so a retry may start over),
    giving back its slot and its reservation (`changes`) in the same transaction."""
    delete: dict[str, Any] = {
        "Key": {"job_id": job.job_id},
        "ConditionExpression": "#s = :submitting",
        "ExpressionAttributeNames": {"#s": "status"},
        "ExpressionAttributeValues": {":submitting": JobStatus.SUBMITTING.value},
    }
    if job.slot is None and not changes:
        try:
            job_items.table().delete_item(**delete)
        except ClientError as error:
            if not dynamo.is_condition_failure(error):
                raise
        return
    parts = [{"Delete": {"TableName": job_items.table().name, **delete}}]
    if job.slot is not None:
        parts.append(slots.give_back(job.slot, job.job_id))
    usage.transact([*parts, *(usage.part(change) for change in changes)], job_transactions.transact)


def transition(
    job: Job,
    to: JobStatus,
    allowed_from: Iterable[JobStatus],
    keeping: Bookkeeping,
    sets: dict[str, Any] | None = None,
) -> Job | None:
    """Move `job` to `to` if it is still in one of `allowed_from`. The updated job, or None when
    the job had already moved on (the write changed nothing).

    Beside the status it writes `keeping` (decided by jobs/bookkeeping.py) and then `sets`, as
    given; when `keeping` releases the slot, the job gives it back in the same transaction. A job
    entering `waiting` joins the fair queue's index, and leaves it with its next move. A batch
    job's move also moves its batch's counts in that transaction (store/batch_counts.py): it is
    then made from the exact status read, and from the fresh job if that status is gone.
    """
    allowed = list(allowed_from)
    if job.batch_id is None:
        return _transition_once(job, to, allowed, keeping, sets)
    current: Job | None = job
    for _ in range(_BATCH_MOVE_ATTEMPTS):
        if current is None or current.status not in allowed:
            return None
        moved = _transition_once(current, to, [current.status], keeping, sets)
        if moved is not None:
            return moved
        current = get_job(job.job_id)
    return None


def fail(
    job: Job,
    error: JobError,
    allowed_from: Iterable[JobStatus],
    keeping: Bookkeeping,
    sets: dict[str, Any] | None = None,
) -> Job | None:
    return transition(
        job, JobStatus.FAILED, allowed_from, keeping, {"error": error.model_dump(), **(sets or {})}
    )


def attach_project(
    job: Job, project_id: str, credits_charged: int | None, keeping: Bookkeeping
) -> Job | None:
    """Record the Magic Hour project of a job still `submitting` (from its create, or recovered by
    the name tag). A job that already ended is never reopened: see `claim_late_project`."""
    sets: dict[str, Any] = {"project_id": project_id}
    if credits_charged is not None:
        sets["credits_charged"] = credits_charged
    # From `waiting` too: a project Magic Hour made although it refused the create is real and
    # charged; adopting it is what keeps the dispatcher from creating (and charging) it again.
    return transition(job, JobStatus.QUEUED, [JobStatus.SUBMITTING, JobStatus.WAITING], keeping, sets)


def _counted(job: Job, to: JobStatus, changes: tuple[UsageChange, ...] = ()) -> list[dict[str, Any]]:
    """The batch's part of `job`'s move to `to` with its usage `changes`: its counts, and what the
    move charges or refunds (none for a job of its own)."""
    if job.batch_id is None:
        return []
    charged = batch_counts.charged_by(changes)
    if job.status is to:
        return [batch_counts.charge_part(job.client_id, job.batch_id, charged)] if charged else []
    return [batch_counts.move_part(job.client_id, job.batch_id, job.status, to, charged)]


def _guarded_update(
    job: Job,
    assignments: dict[str, Any],
    removals: list[str],
    condition: str,
    condition_values: dict[str, Any],
    money: Bookkeeping,
) -> dict[str, Any]:
    """The update of one job that sets `assignments` and removes `removals` only while `condition`
    holds (its values in `condition_values`, the job's status named `#status`) and the job's money
    fields are still as `money`'s usage change was computed from."""
    expression, names, values = update_expression(assignments, removals)
    names["#status"] = "status"
    values.update(condition_values)
    update: dict[str, Any] = {
        "Key": {"job_id": job.job_id},
        "UpdateExpression": expression,
        "ConditionExpression": condition,
        "ExpressionAttributeNames": names,
        "ExpressionAttributeValues": values,
    }
    for i, (name, value) in enumerate(money.expects):
        names[f"#money{i}"] = name
        if value is None:
            update["ConditionExpression"] += f" AND attribute_not_exists(#money{i})"
        else:
            values[f":money{i}"] = value
            update["ConditionExpression"] += f" AND #money{i} = :money{i}"
    return update


def _transition_once(
    job: Job,
    to: JobStatus,
    allowed_from: list[JobStatus],
    keeping: Bookkeeping,
    sets: dict[str, Any] | None,
) -> Job | None:
    assignments: dict[str, Any] = {
        "status": to.value,
        "client_status": f"{job.client_id}#{to.value}",
        "updated_at": now_iso(),
        **keeping.sets,
    }
    removals = list(keeping.removes)
    if to is JobStatus.WAITING:
        assignments["waiting"] = WAITING
    else:
        removals.append("waiting")
    releases = keeping.release_slot and job.slot is not None
    if releases:
        removals.append("slot")
    assignments.update(sets or {})
    allowed = {f":from{i}": status.value for i, status in enumerate(allowed_from)}
    condition = f"#status IN ({', '.join(allowed)})"
    update = _guarded_update(job, assignments, removals, condition, allowed, keeping)
    if releases:
        assert job.slot is not None  # narrows the type; releases only when it holds a slot  # nosec B101
        update["ExpressionAttributeNames"]["#slot"] = "slot"
        update["ExpressionAttributeValues"][":slot"] = job.slot
        update["ConditionExpression"] += " AND #slot = :slot"
        return job_transactions.releasing(
            job, job.slot, update, keeping.usage, _counted(job, to, keeping.usage)
        )
    counted = _counted(job, to, keeping.usage)
    if keeping.usage or counted:
        return job_transactions.with_usage(job, update, counted, keeping.usage)
    return job_transactions.update_returning(update)


def claim_for_create(job: Job, slot: int, keeping: Bookkeeping) -> Job | None:
    """Move a `waiting` job to `submitting`, taking `slot` in the same transaction, and write
    `keeping` beside the status as `transition` does. None when the job is no longer waiting or the
    slot was taken meanwhile (the caller looks again)."""
    assignments: dict[str, Any] = {
        "status": JobStatus.SUBMITTING.value,
        "client_status": f"{job.client_id}#{JobStatus.SUBMITTING.value}",
        "updated_at": now_iso(),
        **keeping.sets,
        "slot": slot,
    }
    update = _guarded_update(
        job,
        assignments,
        [*keeping.removes, "waiting"],
        "#status = :waiting",
        {":waiting": JobStatus.WAITING.value},
        keeping,
    )
    try:
        counted = _counted(job, JobStatus.SUBMITTING, keeping.usage)
        parts = [slots.take(slot, job.job_id, job.client_id), *counted]
        return job_transactions.with_usage(job, update, parts, keeping.usage)
    except job_transactions.SlotRefused:
        return None  # another job took the slot first (a batch's count part has no condition)


def take_open_slot(job: Job, slot: int) -> Job | None:
    """Give a `submitting` job sent at once (no limit of ours) slot `slot` of the open pool, in one
    transaction with the slot item: it only counts what Magic Hour renders for whom (the cap while
    others wait, the limit learned from 429s); Magic Hour's 429 stays the admission. None when the
    slot was taken meanwhile or the job moved on (the caller looks again or goes without)."""
    update: dict[str, Any] = {
        "Key": {"job_id": job.job_id},
        "UpdateExpression": "SET slot = :slot",
        "ConditionExpression": "#status = :submitting AND attribute_not_exists(slot)",
        "ExpressionAttributeNames": {"#status": "status"},
        "ExpressionAttributeValues": {":slot": slot, ":submitting": JobStatus.SUBMITTING.value},
    }
    try:
        return job_transactions.with_usage(job, update, [slots.take(slot, job.job_id, job.client_id)], ())
    except job_transactions.SlotRefused:
        return None


def claim_late_project(
    job: Job,
    project_id: str,
    credits_charged: int | None,
    output_count: int,
    money: Bookkeeping = Bookkeeping(),  # noqa: B008 (frozen: one shared value is safe)
) -> Job | None:
    """A project Magic Hour completed for a job that had already failed: note it once, so its
    outputs are stored under the job (apart from `outputs`) while the job stays failed. `money`
    (its charge, jobs/reservations.py) is written in the same transaction."""
    assignments: dict[str, Any] = {
        "late_project_id": project_id,
        "late_output_count": output_count,
        "updated_at": now_iso(),
        **money.sets,
    }
    if credits_charged is not None:
        assignments["late_credits_charged"] = credits_charged
    update = _guarded_update(
        job,
        assignments,
        list(money.removes),
        "#status = :failed AND attribute_not_exists(late_project_id)",
        {":failed": JobStatus.FAILED.value},
        money,
    )
    if money.usage:
        # A batch job's late charge counts in its batch's credits too.
        return job_transactions.with_usage(job, update, _counted(job, job.status, money.usage), money.usage)
    return job_transactions.update_returning(update)
