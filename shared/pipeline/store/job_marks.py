"""The jobs table's small writes beside a job's status moves: its download and callback
bookkeeping, its outputs, the sweep's schedule, and its create's notes. Each is conditional on
the job still being where the write makes sense; most change nothing otherwise.
"""

from __future__ import annotations

import contextlib
from typing import Any

from botocore.exceptions import ClientError

from pipeline.models.job import Bookkeeping, Job, JobStatus, StoredOutput
from pipeline.platform.timeutil import epoch_seconds, now_iso
from pipeline.store import dynamo, job_items
from pipeline.store.job_items import from_item, update_expression
from pipeline.store.job_reads import get_job


def record_late_output(job_id: str, output: StoredOutput) -> None:
    """Add one stored output of a job's late project; a repeat changes nothing."""
    try:
        job_items.table().update_item(
            Key={"job_id": job_id},
            UpdateExpression="SET late_outputs.#i = :output",
            ConditionExpression="attribute_exists(late_project_id) AND attribute_not_exists(late_outputs.#i)",
            ExpressionAttributeNames={"#i": str(output.index)},
            ExpressionAttributeValues={":output": output.model_dump()},
        )
    except ClientError as error:
        if not dynamo.is_condition_failure(error):
            raise


def mark_downloads_queued(job_id: str) -> None:
    job_items.table().update_item(
        Key={"job_id": job_id},
        UpdateExpression="SET downloads_queued = :yes REMOVE queue_lease_until",
        ExpressionAttributeValues={":yes": True},
    )


def release_queueing(job_id: str) -> None:
    """Best effort: when this fails too, the lease simply runs out."""
    with contextlib.suppress(ClientError):
        job_items.table().update_item(Key={"job_id": job_id}, UpdateExpression="REMOVE queue_lease_until")


def claim_queueing(job_id: str, lease_seconds: int) -> bool:
    """Take the right to (re)send a job's download messages when the last sender's lease ran out
    without finishing (it crashed between two writes)."""
    now = epoch_seconds()
    try:
        job_items.table().update_item(
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
        answer = job_items.table().update_item(
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
    return from_item(answer["Attributes"])


def postpone_check(job_id: str, next_check_at: int, checks: int) -> None:
    """The sweep looked and nothing changed: look again later (backing off)."""
    with contextlib.suppress(ClientError):
        schedule_check(job_id, next_check_at, checks)


def schedule_check(job_id: str, next_check_at: int, checks: int) -> bool:
    """When the sweep next looks at a job it watches, and its back-off count so far. False when
    the sweep no longer watches the job (nothing written)."""
    try:
        job_items.table().update_item(
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
    job_items.table().update_item(
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
    expression, names, values = update_expression(
        assignments,
        list(keeping.removes),
        "callback_attempts = if_not_exists(callback_attempts, :zero) + :one",
    )
    values.update({":zero": 0, ":one": 1, ":pending": "pending"})
    try:
        answer = job_items.table().update_item(
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
    return from_item(answer["Attributes"])


def note_download_attempt(job_id: str, at: int) -> None:
    """A download attempt of a `downloading` job failed and will be retried: its messages are
    alive. Writes nothing once the job moved on."""
    try:
        job_items.table().update_item(
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
        answer = job_items.table().update_item(
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
    return from_item(answer["Attributes"])


def end_submit_claim(job_id: str) -> None:
    """The request that wrote the job has answered: duplicates no longer wait for it."""
    try:
        job_items.table().update_item(
            Key={"job_id": job_id},
            UpdateExpression="REMOVE submit_claim_until",
            ConditionExpression="attribute_exists(job_id)",
        )
    except ClientError as error:
        if not dynamo.is_condition_failure(error):
            raise
