"""The jobs table: one item per job, moved forward by conditional writes only.

Every transition names the statuses it may start from, so a duplicate or late event can never move
a job backwards: DynamoDB refuses the write and the caller learns nothing changed.
"""

from __future__ import annotations

import contextlib
import json
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from boto3.dynamodb.conditions import Key
from botocore.exceptions import ClientError

from pipeline.models.job import Bookkeeping, Job, JobError, JobStatus, StoredOutput
from pipeline.models.usage import OverBudget, UsageChange
from pipeline.platform.aws import dynamodb_table
from pipeline.platform.settings import get_settings
from pipeline.platform.timeutil import epoch_seconds, now_iso
from pipeline.store import batch_counts, dynamo, slots, usage
from pipeline.store import cursor as cursor_codec

# Re-exported: submit/queries.py catches it as job_store.InvalidCursor.
from pipeline.store.cursor import InvalidCursor as InvalidCursor

CLIENT_INDEX = "ClientJobsIndex"
ACTIVE_INDEX = "ActiveJobsIndex"
# The partition of the sweep's sparse index: present only while a job still needs watching.
ACTIVE = "1"
CLIENT_STATUS_INDEX = "ClientStatusJobsIndex"
PROJECT_INDEX = "ProjectIndex"
# The fair queue: sparse (only `waiting` jobs carry `waiting`), ordered by fair_key.
WAITING_INDEX = "WaitingJobsIndex"
WAITING = "1"


@dataclass(frozen=True)
class WaitingEntry:
    job_id: str
    fair_key: str
    client_id: str = ""  # projected by the index: the fair share counts the clients waiting


@dataclass(frozen=True)
class JobPage:
    jobs: list[Job]
    next_cursor: str | None


def _table() -> Any:
    return dynamodb_table(get_settings().require("jobs_table_name"))


def _to_item(job: Job, next_check_at: int | None = None) -> dict[str, Any]:
    item: dict[str, Any] = job.model_dump(
        exclude={"metadata", "outputs", "late_outputs", "error", "input"}, exclude_none=True
    )
    # As UTF-8 text (ensure_ascii=False): escaped, one emoji takes 12 bytes instead of 4, and a
    # 256 KB body of them would be an item DynamoDB refuses.
    item["metadata_json"] = json.dumps(job.metadata, separators=(",", ":"), ensure_ascii=False)
    # As a string: DynamoDB numbers cannot hold every JSON number a tool input may carry.
    item["input_json"] = json.dumps(job.input, separators=(",", ":"), ensure_ascii=False)
    item["outputs"] = {key: output.model_dump() for key, output in job.outputs.items()}
    item["late_outputs"] = {key: output.model_dump() for key, output in job.late_outputs.items()}
    if job.error is not None:
        item["error"] = job.error.model_dump()
    item["status"] = job.status.value
    item["client_status"] = f"{job.client_id}#{job.status.value}"
    item["client_created"] = f"{job.created_at}#{job.job_id}"
    item["expires_at_epoch"] = epoch_seconds() + get_settings().job_ttl_days * 86400
    if next_check_at is not None:
        item["active"] = ACTIVE
        item["next_check_at"] = next_check_at
    if job.status is JobStatus.WAITING:
        assert job.fair_key is not None, "a waiting job needs its place in the fair queue"  # nosec B101
        item["waiting"] = WAITING
    return item


def _from_item(item: dict[str, Any]) -> Job:
    data = dict(item)
    data["metadata"] = json.loads(data.pop("metadata_json", "{}") or "{}")
    data["input"] = json.loads(data.pop("input_json", "{}") or "{}")
    return Job.model_validate(data)


# DynamoDB's item limit, and what a job may take of it when it is first written: the rest is kept
# for what its life adds (project id, outputs and late outputs, error and callback messages, the
# sweep's and the slots' fields), so no later write of the job can be refused for its size.
ITEM_LIMIT_BYTES = 400 * 1024
GROWTH_RESERVE_BYTES = 48 * 1024
NEW_JOB_LIMIT_BYTES = ITEM_LIMIT_BYTES - GROWTH_RESERVE_BYTES


class JobTooLarge(ValueError):
    """A new job's item would not fit DynamoDB's item limit with room to grow: nothing written."""

    def __init__(self, size_bytes: int) -> None:
        super().__init__(f"the job would take {size_bytes} bytes to store; at most {NEW_JOB_LIMIT_BYTES} fit")
        self.size_bytes = size_bytes


def item_size_bytes(value: Any) -> int:
    """DynamoDB's size of an item (or of one attribute value), as its documentation counts it:
    names and strings by their UTF-8 length, numbers by their digits, 3 bytes per map or list and 1
    per element. An upper bound where DynamoDB's own rule is vaguer (numbers)."""
    if isinstance(value, dict):
        return 3 + sum(len(str(name).encode()) + 1 + item_size_bytes(inner) for name, inner in value.items())
    if isinstance(value, (list, tuple)):
        return 3 + sum(1 + item_size_bytes(inner) for inner in value)
    if isinstance(value, bool) or value is None:
        return 1
    if isinstance(value, (int, float)):
        return 1 + (len(str(abs(value))) + 1) // 2 + 1
    if isinstance(value, bytes):
        return len(value)
    return len(str(value).encode("utf-8", "surrogatepass"))


def check_storable(job: Job, next_check_at: int | None = None) -> None:
    """Raise JobTooLarge, before anything is written, for a job too large to store."""
    item = _to_item(job, next_check_at)
    size = sum(len(name.encode()) + item_size_bytes(value) for name, value in item.items())
    if size > NEW_JOB_LIMIT_BYTES:
        raise JobTooLarge(size)


def put_new_job(job: Job, next_check_at: int | None, changes: tuple[UsageChange, ...] = ()) -> bool:
    """Write a job that must not exist yet, for the sweep to look at `next_check_at` (never, when
    None), with its usage `changes` (its reservation) in the same transaction. False when a job
    with that id is already there (then nothing is reserved); OverBudget when the reservation did
    not fit (then no job is written)."""
    put: dict[str, Any] = {
        "TableName": _table().name,
        "Item": _to_item(job, next_check_at),
        "ConditionExpression": "attribute_not_exists(job_id)",
    }
    if changes:
        failed = usage.transact([{"Put": put}, *(usage.part(change) for change in changes)], _transact)
        if failed is None:
            return True
        if failed[0]:
            return False
        raise OverBudget(job.client_id)
    try:
        _table().put_item(Item=put["Item"], ConditionExpression=put["ConditionExpression"])
    except ClientError as error:
        if dynamo.is_condition_failure(error):
            return False
        raise
    return True


def get_job(job_id: str) -> Job | None:
    item = _table().get_item(Key={"job_id": job_id}, ConsistentRead=True).get("Item")
    return _from_item(item) if item else None


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
            _table().delete_item(**delete)
        except ClientError as error:
            if not dynamo.is_condition_failure(error):
                raise
        return
    parts = [{"Delete": {"TableName": _table().name, **delete}}]
    if job.slot is not None:
        parts.append(slots.give_back(job.slot, job.job_id))
    usage.transact([*parts, *(usage.part(change) for change in changes)], _transact)


def _transact(parts: list[dict[str, Any]]) -> None:
    # The table resource's client takes plain Python values, like the resource itself.
    _table().meta.client.transact_write_items(TransactItems=parts)


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


# A batch job's move made from the status read is refused when another move got there first; it
# is made again from the job as it stands (each retry follows a real move, so a few suffice).
_BATCH_MOVE_ATTEMPTS = 4


def _counted(job: Job, to: JobStatus) -> list[dict[str, Any]]:
    """The batch's count part of `job`'s move to `to` (none for a job of its own)."""
    if job.batch_id is None or job.status is to:
        return []
    return [batch_counts.move_part(job.client_id, job.batch_id, job.status, to)]


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
    expression, names, values = _update_expression(assignments, removals)
    for i, status in enumerate(allowed_from):
        values[f":from{i}"] = status.value
    names["#status"] = "status"
    condition = f"#status IN ({', '.join(k for k in values if k.startswith(':from'))})"
    update: dict[str, Any] = {
        "Key": {"job_id": job.job_id},
        "UpdateExpression": expression,
        "ConditionExpression": condition,
        "ExpressionAttributeNames": names,
        "ExpressionAttributeValues": values,
    }
    _expect(update, keeping)
    if releases:
        assert job.slot is not None  # narrows the type; releases only when it holds a slot  # nosec B101
        names["#slot"] = "slot"
        values[":slot"] = job.slot
        update["ConditionExpression"] += " AND #slot = :slot"
        return _transition_releasing(job, job.slot, update, keeping.usage, _counted(job, to))
    counted = _counted(job, to)
    if keeping.usage or counted:
        return _with_usage(job, update, counted, keeping.usage)
    try:
        answer = _table().update_item(**update, ReturnValues="ALL_NEW")
    except ClientError as error:
        if dynamo.is_condition_failure(error):
            return None
        raise
    return _from_item(answer["Attributes"])


def _update_expression(
    assignments: dict[str, Any], removals: list[str], *extra_sets: str
) -> tuple[str, dict[str, str], dict[str, Any]]:
    """The UpdateExpression that sets `assignments` (then `extra_sets`, written out) and removes
    `removals`, with its names and values. The sweep's sparse index holds a job exactly while it
    has a `next_check_at`, so its partition key follows that field in the same write."""
    assignments = dict(assignments)
    removals = list(removals)
    if "next_check_at" in assignments:
        assignments["active"] = ACTIVE
    if "next_check_at" in removals:
        removals.append("active")
    return dynamo.update_expression(assignments, removals, *extra_sets)


def _expect(update: dict[str, Any], keeping: Bookkeeping) -> None:
    """The job's money fields must still be as the usage change was computed from."""
    names, values = update["ExpressionAttributeNames"], update["ExpressionAttributeValues"]
    for i, (name, value) in enumerate(keeping.expects):
        names[f"#money{i}"] = name
        if value is None:
            update["ConditionExpression"] += f" AND attribute_not_exists(#money{i})"
        else:
            values[f":money{i}"] = value
            update["ConditionExpression"] += f" AND #money{i} = :money{i}"


def _with_usage(
    job: Job, update: dict[str, Any], others: list[dict[str, Any]], changes: tuple[UsageChange, ...]
) -> Job | None:
    """The job's update with `others` and its usage changes in one transaction: the job as it
    stands, or None when the job's own condition failed. OverBudget when a reservation did not
    fit; a condition of `others` failing raises SlotRefused."""
    failed = usage.transact(
        [{"Update": {"TableName": _table().name, **update}}, *others, *(usage.part(c) for c in changes)],
        _transact,
    )
    if failed is None:
        return get_job(job.job_id)
    if failed[0]:
        return None
    if any(failed[1 + len(others) :]):
        raise OverBudget(job.client_id)
    raise SlotRefused(job.job_id)


class SlotRefused(Exception):
    """The slot part of a job's transaction failed its condition (nothing was written)."""


def _transition_releasing(
    job: Job,
    slot: int,
    update: dict[str, Any],
    changes: tuple[UsageChange, ...],
    counted: list[dict[str, Any]],
) -> Job | None:
    try:
        return _with_usage(job, update, [slots.give_back(slot, job.job_id), *counted], changes)
    except SlotRefused:
        # The slot was already reclaimed (the sweep found it stale): move the job alone.
        if changes or counted:
            return _with_usage(job, update, counted, changes)
        return _update_alone(job, update)


def _update_alone(job: Job, update: dict[str, Any]) -> Job | None:
    try:
        _table().update_item(**update)
    except ClientError as inner:
        if dynamo.is_condition_failure(inner):
            return None
        raise
    return get_job(job.job_id)


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
    expression, names, values = _update_expression(assignments, [*keeping.removes, "waiting"])
    names["#status"] = "status"
    values[":waiting"] = JobStatus.WAITING.value
    update: dict[str, Any] = {
        "Key": {"job_id": job.job_id},
        "UpdateExpression": expression,
        "ConditionExpression": "#status = :waiting",
        "ExpressionAttributeNames": names,
        "ExpressionAttributeValues": values,
    }
    _expect(update, keeping)
    try:
        parts = [slots.take(slot, job.job_id, job.client_id), *_counted(job, JobStatus.SUBMITTING)]
        return _with_usage(job, update, parts, keeping.usage)
    except SlotRefused:
        return None  # another job took the slot first (a batch's count part has no condition)


def take_open_slot(job: Job, slot: int) -> Job | None:
    """Give a `submitting` job created at once (no limit of ours) slot `slot` of the open pool, in
    one transaction with the slot item: it only counts what Magic Hour renders for whom (the cap
    while others wait, the limit learned from 429s), since Magic Hour's 429 is the admission. None
    when the slot was taken meanwhile or the job moved on (the caller looks again or goes without)."""
    update: dict[str, Any] = {
        "Key": {"job_id": job.job_id},
        "UpdateExpression": "SET slot = :slot",
        "ConditionExpression": "#status = :submitting AND attribute_not_exists(slot)",
        "ExpressionAttributeNames": {"#status": "status"},
        "ExpressionAttributeValues": {":slot": slot, ":submitting": JobStatus.SUBMITTING.value},
    }
    try:
        return _with_usage(job, update, [slots.take(slot, job.job_id, job.client_id)], ())
    except SlotRefused:
        return None


def waiting_jobs(limit: int) -> list[WaitingEntry]:
    """The head of the fair queue, fairest first."""
    answer = _table().query(
        IndexName=WAITING_INDEX, KeyConditionExpression=Key("waiting").eq(WAITING), Limit=limit
    )
    return [
        WaitingEntry(
            job_id=str(item["job_id"]),
            fair_key=str(item["fair_key"]),
            client_id=str(item.get("client_id", "")),
        )
        for item in answer.get("Items", [])
    ]


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
    expression, names, values = _update_expression(assignments, list(money.removes))
    names["#s"] = "status"
    values[":failed"] = JobStatus.FAILED.value
    update: dict[str, Any] = {
        "Key": {"job_id": job.job_id},
        "UpdateExpression": expression,
        "ConditionExpression": "#s = :failed AND attribute_not_exists(late_project_id)",
        "ExpressionAttributeNames": names,
        "ExpressionAttributeValues": values,
    }
    _expect(update, money)
    if money.usage:
        return _with_usage(job, update, [], money.usage)
    try:
        answer = _table().update_item(**update, ReturnValues="ALL_NEW")
    except ClientError as error:
        if dynamo.is_condition_failure(error):
            return None
        raise
    return _from_item(answer["Attributes"])


def record_late_output(job_id: str, output: StoredOutput) -> None:
    """Add one stored output of a job's late project; a repeat changes nothing."""
    try:
        _table().update_item(
            Key={"job_id": job_id},
            UpdateExpression="SET late_outputs.#i = :output",
            ConditionExpression="attribute_exists(late_project_id) AND attribute_not_exists(late_outputs.#i)",
            ExpressionAttributeNames={"#i": str(output.index)},
            ExpressionAttributeValues={":output": output.model_dump()},
        )
    except ClientError as error:
        if not dynamo.is_condition_failure(error):
            raise


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


def mark_downloads_queued(job_id: str) -> None:
    _table().update_item(
        Key={"job_id": job_id},
        UpdateExpression="SET downloads_queued = :yes REMOVE queue_lease_until",
        ExpressionAttributeValues={":yes": True},
    )


def release_queueing(job_id: str) -> None:
    """Best effort: when this fails too, the lease simply runs out."""
    with contextlib.suppress(ClientError):
        _table().update_item(Key={"job_id": job_id}, UpdateExpression="REMOVE queue_lease_until")


def claim_queueing(job_id: str, lease_seconds: int) -> bool:
    """Take the right to (re)send a job's download messages when the last sender's lease ran out
    without finishing (it crashed between two writes)."""
    now = epoch_seconds()
    try:
        _table().update_item(
            Key={"job_id": job_id},
            UpdateExpression="SET queue_lease_until = :until",
            ConditionExpression=(
                "#s = :downloading AND downloads_queued = :no AND "
                "(attribute_not_exists(queue_lease_until) OR queue_lease_until < :now)"
            ),
            ExpressionAttributeNames={"#s": "status"},
            ExpressionAttributeValues={
                ":downloading": JobStatus.DOWNLOADING.value,
                ":no": False,
                ":now": now,
                ":until": now + lease_seconds,
            },
        )
    except ClientError as error:
        if dynamo.is_condition_failure(error):
            return False
        raise
    return True


def record_output(job_id: str, output: StoredOutput) -> Job | None:
    """Add one stored output to a downloading job. Returns the job as it stands afterwards (also when
    this output had been recorded before), or None when the job is not downloading any more."""
    try:
        answer = _table().update_item(
            Key={"job_id": job_id},
            UpdateExpression="SET outputs.#i = :output, updated_at = :now",
            ConditionExpression="#s = :downloading AND attribute_not_exists(outputs.#i)",
            ExpressionAttributeNames={"#i": str(output.index), "#s": "status"},
            ExpressionAttributeValues={
                ":output": output.model_dump(),
                ":now": now_iso(),
                ":downloading": JobStatus.DOWNLOADING.value,
            },
            ReturnValues="ALL_NEW",
        )
    except ClientError as error:
        if not dynamo.is_condition_failure(error):
            raise
        job = get_job(job_id)
        if job is None or job.status is not JobStatus.DOWNLOADING:
            return job if job is not None and str(output.index) in job.outputs else None
        return job
    return _from_item(answer["Attributes"])


def find_job_by_project(project_id: str) -> Job | None:
    answer = _table().query(
        IndexName=PROJECT_INDEX, KeyConditionExpression=Key("project_id").eq(project_id), Limit=1
    )
    items = answer.get("Items", [])
    return get_job(str(items[0]["job_id"])) if items else None


def list_jobs(client_id: str, status: JobStatus | None, limit: int, cursor: str | None) -> JobPage:
    if status is None:
        index, key_condition = CLIENT_INDEX, Key("client_id").eq(client_id)
    else:
        index, key_condition = CLIENT_STATUS_INDEX, Key("client_status").eq(f"{client_id}#{status.value}")
    query: dict[str, Any] = {
        "IndexName": index,
        "KeyConditionExpression": key_condition,
        "ScanIndexForward": False,
        "Limit": limit,
    }
    scope = status.value if status is not None else ""
    if cursor:
        query["ExclusiveStartKey"] = cursor_codec.decode(cursor, client_id, scope)
    answer = _table().query(**query)
    jobs = [_from_item(item) for item in answer.get("Items", [])]
    last_key = answer.get("LastEvaluatedKey")
    return JobPage(jobs, cursor_codec.encode(last_key, client_id, scope) if last_key else None)


def due_for_check(now: int, limit: int) -> list[Job]:
    """Jobs the sweep should look at now: not moved for a while, or owed a callback."""
    answer = _table().query(
        IndexName=ACTIVE_INDEX,
        KeyConditionExpression=Key("active").eq(ACTIVE) & Key("next_check_at").lte(now),
        Limit=limit,
    )
    return [_from_item(item) for item in answer.get("Items", [])]


def postpone_check(job_id: str, next_check_at: int, checks: int) -> None:
    """The sweep looked and nothing changed: look again later (backing off)."""
    with contextlib.suppress(ClientError):
        schedule_check(job_id, next_check_at, checks)


def schedule_check(job_id: str, next_check_at: int, checks: int) -> bool:
    """When the sweep next looks at a job it watches, and its back-off count so far. False when
    the sweep no longer watches the job (nothing written)."""
    try:
        _table().update_item(
            Key={"job_id": job_id},
            UpdateExpression="SET next_check_at = :at, sweep_checks = :checks",
            ConditionExpression="attribute_exists(active)",
            ExpressionAttributeValues={":at": next_check_at, ":checks": checks},
        )
    except ClientError as error:
        if dynamo.is_condition_failure(error):
            return False
        raise
    return True


def mark_callback_queued(job_id: str) -> None:
    _table().update_item(
        Key={"job_id": job_id},
        UpdateExpression="SET callback_queued = :yes",
        ExpressionAttributeValues={":yes": True},
    )


def record_callback_attempt(job_id: str, outcome: str, error: str | None, keeping: Bookkeeping) -> Job | None:
    """Count one delivery attempt of a `pending` callback; `outcome` is `delivered`, `failed`
    (given up) or `pending`. Writes `keeping` beside it, as given."""
    assignments: dict[str, Any] = {**keeping.sets, "callback_state": outcome}
    if error is not None:
        assignments["callback_last_error"] = error[:500]
    expression, names, values = _update_expression(
        assignments,
        list(keeping.removes),
        "callback_attempts = if_not_exists(callback_attempts, :zero) + :one",
    )
    values.update({":zero": 0, ":one": 1, ":pending": "pending"})
    try:
        answer = _table().update_item(
            Key={"job_id": job_id},
            UpdateExpression=expression,
            ConditionExpression="callback_state = :pending",
            ExpressionAttributeNames=names,
            ExpressionAttributeValues=values,
            ReturnValues="ALL_NEW",
        )
    except ClientError as exc:
        if dynamo.is_condition_failure(exc):
            return None
        raise
    return _from_item(answer["Attributes"])


def note_download_attempt(job_id: str, at: int) -> None:
    """A download attempt of a `downloading` job failed and will be retried: its messages are
    alive. Writes nothing once the job moved on."""
    try:
        _table().update_item(
            Key={"job_id": job_id},
            UpdateExpression="SET download_attempted_at = :at",
            ConditionExpression="#s = :downloading",
            ExpressionAttributeNames={"#s": "status"},
            ExpressionAttributeValues={":at": at, ":downloading": JobStatus.DOWNLOADING.value},
        )
    except ClientError as error:
        if not dynamo.is_condition_failure(error):
            raise


def mark_create_unknown(job_id: str) -> Job | None:
    """Note that a `submitting` job's create was answered with an unknown outcome. None when the
    job has moved on (its project was recorded, or it ended) and nothing was written."""
    try:
        answer = _table().update_item(
            Key={"job_id": job_id},
            UpdateExpression="SET create_outcome_unknown = :yes",
            ConditionExpression="#s = :submitting AND attribute_not_exists(project_id)",
            ExpressionAttributeNames={"#s": "status"},
            ExpressionAttributeValues={":yes": True, ":submitting": JobStatus.SUBMITTING.value},
            ReturnValues="ALL_NEW",
        )
    except ClientError as error:
        if dynamo.is_condition_failure(error):
            return None
        raise
    return _from_item(answer["Attributes"])


def end_submit_claim(job_id: str) -> None:
    """The request that wrote the job has answered: duplicates no longer wait for it."""
    try:
        _table().update_item(
            Key={"job_id": job_id},
            UpdateExpression="REMOVE submit_claim_until",
            ConditionExpression="attribute_exists(job_id)",
        )
    except ClientError as error:
        if not dynamo.is_condition_failure(error):
            raise
