"""The jobs table: one item per job, moved forward by conditional writes only.

Every transition names the statuses it may start from, so a duplicate or late event can never move
a job backwards: DynamoDB refuses the write and the caller learns nothing changed.
"""

from __future__ import annotations

import base64
import contextlib
import json
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from boto3.dynamodb.conditions import Key
from botocore.exceptions import ClientError

from pipeline.aws import dynamodb_table
from pipeline.models.job import Job, JobError, JobStatus, StoredOutput
from pipeline.settings import get_settings
from pipeline.timeutil import epoch_seconds, now_iso

CLIENT_INDEX = "ClientJobsIndex"
ACTIVE_INDEX = "ActiveJobsIndex"
# The partition of the sweep's sparse index: present only while a job still needs watching.
ACTIVE = "1"
CLIENT_STATUS_INDEX = "ClientStatusJobsIndex"
PROJECT_INDEX = "ProjectIndex"


class InvalidCursor(ValueError):
    pass


@dataclass(frozen=True)
class JobPage:
    jobs: list[Job]
    next_cursor: str | None


def _table() -> Any:
    return dynamodb_table(get_settings().jobs_table_name)


def _is_condition_failure(error: ClientError) -> bool:
    return error.response.get("Error", {}).get("Code") == "ConditionalCheckFailedException"


def _to_item(job: Job) -> dict[str, Any]:
    item: dict[str, Any] = job.model_dump(exclude={"metadata", "outputs", "error"}, exclude_none=True)
    item["metadata_json"] = json.dumps(job.metadata, separators=(",", ":"))
    item["outputs"] = {key: output.model_dump() for key, output in job.outputs.items()}
    if job.error is not None:
        item["error"] = job.error.model_dump()
    item["status"] = job.status.value
    item["client_status"] = f"{job.client_id}#{job.status.value}"
    item["client_created"] = f"{job.created_at}#{job.job_id}"
    item["expires_at_epoch"] = epoch_seconds() + get_settings().job_ttl_days * 86400
    if not job.status.is_terminal:
        item["active"] = ACTIVE
        item["next_check_at"] = epoch_seconds() + get_settings().sweep_quiet_seconds
    return item


def _from_item(item: dict[str, Any]) -> Job:
    data = dict(item)
    data["metadata"] = json.loads(data.pop("metadata_json", "{}") or "{}")
    return Job.model_validate(data)


def put_new_job(job: Job) -> bool:
    """Write a job that must not exist yet. False when a job with that id is already there."""
    try:
        _table().put_item(Item=_to_item(job), ConditionExpression="attribute_not_exists(job_id)")
    except ClientError as error:
        if _is_condition_failure(error):
            return False
        raise
    return True


def get_job(job_id: str) -> Job | None:
    item = _table().get_item(Key={"job_id": job_id}, ConsistentRead=True).get("Item")
    return _from_item(item) if item else None


def delete_submitting_job(job_id: str) -> None:
    """Remove a job whose create certainly made nothing at Magic Hour (so a retry may start over)."""
    try:
        _table().delete_item(
            Key={"job_id": job_id},
            ConditionExpression="#s = :submitting",
            ExpressionAttributeNames={"#s": "status"},
            ExpressionAttributeValues={":submitting": JobStatus.SUBMITTING.value},
        )
    except ClientError as error:
        if not _is_condition_failure(error):
            raise


def transition(
    job: Job, to: JobStatus, allowed_from: Iterable[JobStatus], sets: dict[str, Any] | None = None
) -> Job | None:
    """Move `job` to `to` if it is still in one of `allowed_from`. The updated job, or None when
    the job had already moved on (the write changed nothing).

    Every move also tells the reconciliation sweep when to look at the job next; a job leaves the
    sweep's index when it ends, unless a client callback is still owed.
    """
    now = epoch_seconds()
    assignments: dict[str, Any] = {
        "status": to.value,
        "client_status": f"{job.client_id}#{to.value}",
        "updated_at": now_iso(),
    }
    removals: list[str] = []
    if to.is_terminal and not job.callback_url:
        removals = ["active", "next_check_at"]
    else:
        assignments.update(
            {"active": ACTIVE, "next_check_at": now + get_settings().sweep_quiet_seconds, "sweep_checks": 0}
        )
    if to.is_terminal and job.callback_url:
        assignments.update({"callback_state": "pending", "callback_attempts": 0, "callback_queued": False})
    assignments.update(sets or {})
    names = {f"#f{i}": field for i, field in enumerate([*assignments, *removals])}
    values: dict[str, Any] = {f":v{i}": value for i, value in enumerate(assignments.values())}
    for i, status in enumerate(allowed_from):
        values[f":from{i}"] = status.value
    names["#status"] = "status"
    expression = "SET " + ", ".join(f"#f{i} = :v{i}" for i in range(len(assignments)))
    if removals:
        expression += " REMOVE " + ", ".join(f"#f{len(assignments) + i}" for i in range(len(removals)))
    try:
        answer = _table().update_item(
            Key={"job_id": job.job_id},
            UpdateExpression=expression,
            ConditionExpression=f"#status IN ({', '.join(k for k in values if k.startswith(':from'))})",
            ExpressionAttributeNames=names,
            ExpressionAttributeValues=values,
            ReturnValues="ALL_NEW",
        )
    except ClientError as error:
        if _is_condition_failure(error):
            return None
        raise
    return _from_item(answer["Attributes"])


def attach_project(job: Job, project_id: str, credits_charged: int | None) -> Job | None:
    """Record the Magic Hour project of a job still `submitting` (from submit, or recovered by name)."""
    sets: dict[str, Any] = {"project_id": project_id}
    if credits_charged is not None:
        sets["credits_charged"] = credits_charged
    allowed = [JobStatus.SUBMITTING]
    if job.status is JobStatus.FAILED and job.project_id is None:
        # Adopted after the sweep stopped waiting for it (the caller checked why it failed).
        allowed, sets["error"] = [JobStatus.FAILED], None
    return transition(job, JobStatus.QUEUED, allowed, sets)


def fail(
    job: Job, error: JobError, allowed_from: Iterable[JobStatus], sets: dict[str, Any] | None = None
) -> Job | None:
    return transition(job, JobStatus.FAILED, allowed_from, {"error": error.model_dump(), **(sets or {})})


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
        if _is_condition_failure(error):
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
        if not _is_condition_failure(error):
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
        query["ExclusiveStartKey"] = _decode_cursor(cursor, client_id, scope)
    answer = _table().query(**query)
    jobs = [_from_item(item) for item in answer.get("Items", [])]
    last_key = answer.get("LastEvaluatedKey")
    return JobPage(jobs, _encode_cursor(last_key, client_id, scope) if last_key else None)


def _encode_cursor(last_key: dict[str, Any], client_id: str, scope: str) -> str:
    """Opaque to callers; bound to the client and the status filter it was issued for."""
    document = {"c": client_id, "s": scope, "k": {name: str(value) for name, value in last_key.items()}}
    return base64.urlsafe_b64encode(json.dumps(document, separators=(",", ":")).encode()).decode().rstrip("=")


def _decode_cursor(cursor: str, client_id: str, scope: str) -> dict[str, Any]:
    try:
        padded = cursor + "=" * (-len(cursor) % 4)
        document = json.loads(base64.urlsafe_b64decode(padded.encode()))
        key = document["k"]
        valid = (
            document["c"] == client_id
            and document.get("s", "") == scope
            and isinstance(key, dict)
            and all(isinstance(v, str) for v in key.values())
            and set(key) <= {"job_id", "client_id", "client_created", "client_status"}
            and key.get("client_id", client_id) == client_id
            and key.get("client_status", f"{client_id}#").startswith(f"{client_id}#")
        )
    except (ValueError, KeyError, TypeError) as exc:
        raise InvalidCursor("cursor is not one this API issued") from exc
    if not valid:
        raise InvalidCursor("cursor is not one this API issued")
    return dict(key)


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
        _table().update_item(
            Key={"job_id": job_id},
            UpdateExpression="SET next_check_at = :at, sweep_checks = :checks",
            ConditionExpression="attribute_exists(active)",
            ExpressionAttributeValues={":at": next_check_at, ":checks": checks},
        )


def mark_callback_queued(job_id: str) -> None:
    _table().update_item(
        Key={"job_id": job_id},
        UpdateExpression="SET callback_queued = :yes",
        ExpressionAttributeValues={":yes": True},
    )


def record_callback_attempt(job_id: str, outcome: str, error: str | None) -> Job | None:
    """Count one delivery attempt; `outcome` is `delivered`, `failed` (given up) or `pending`.
    A settled callback takes the job out of the sweep's index."""
    settled = outcome in ("delivered", "failed")
    expression = (
        "SET callback_state = :state, callback_attempts = if_not_exists(callback_attempts, :zero) + :one"
    )
    values: dict[str, Any] = {":state": outcome, ":zero": 0, ":one": 1, ":pending": "pending"}
    if error is not None:
        expression += ", callback_last_error = :error"
        values[":error"] = error[:500]
    if settled:
        expression += " REMOVE active, next_check_at"
    try:
        answer = _table().update_item(
            Key={"job_id": job_id},
            UpdateExpression=expression,
            ConditionExpression="callback_state = :pending",
            ExpressionAttributeValues=values,
            ReturnValues="ALL_NEW",
        )
    except ClientError as exc:
        if _is_condition_failure(exc):
            return None
        raise
    return _from_item(answer["Attributes"])
