"""Jobs across every client, for operators: find them by status and age, show one, fail one,
have the sweep look at one again. Every write is conditional, so repeating it changes nothing.

Reads are ops' own (queries across clients the pipeline never makes); a write that is a pipeline
rule (failing a job, the sweep's schedule) is the pipeline's own code, run inside ops.pipeline_env.bound.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import urlsplit

from boto3.dynamodb.conditions import Attr, Key
from botocore.exceptions import ClientError

from pipeline.jobs import moves
from pipeline.models.job import Job, JobError, JobStatus, failure_source
from pipeline.store import dynamo
from pipeline.store import jobs as job_store

# The jobs table's index by status and last move (template.yaml, JobsTable).
STATUS_INDEX = "StatusUpdatedIndex"
NOT_ENDED = tuple(status.value for status in JobStatus if not status.is_terminal)
ENDED = tuple(status.value for status in JobStatus if status.is_terminal)
STATUSES = NOT_ENDED + ENDED
OPERATOR_FAILED = "operator_failed"


def iso(moment: datetime) -> str:
    """The one timestamp format of the jobs table (sorts as text)."""
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"


def parse_age(text: str) -> timedelta:
    """`90s`, `15m`, `6h`, `2d` (or plain seconds)."""
    match = re.fullmatch(r"(\d+)([smhd]?)", text.strip())
    if not match:
        raise ValueError(f"not an age: {text!r} (use e.g. 90s, 15m, 6h, 2d)")
    number, unit = int(match.group(1)), match.group(2) or "s"
    return timedelta(seconds=number * {"s": 1, "m": 60, "h": 3600, "d": 86400}[unit])


def find(
    table: Any,
    statuses: list[str],
    older_than: timedelta | None = None,
    error_code: str | None = None,
    error_source: str | None = None,
    client_id: str | None = None,
    limit: int = 100,
    now: datetime | None = None,
) -> Iterator[dict[str, Any]]:
    """Jobs in `statuses` that have not moved for `older_than`, oldest move first, across clients
    (one query per status on the status index, never a scan)."""
    cutoff = iso((now or datetime.now(UTC)) - older_than) if older_than is not None else None
    filters: list[Any] = []
    if error_code:
        filters.append(Attr("error.code").eq(error_code))
    if error_source:
        filters.append(Attr("error.source").eq(error_source))
    if client_id:
        filters.append(Attr("client_id").eq(client_id))
    found = 0
    for status in statuses:
        condition: Any = Key("status").eq(status)
        if cutoff:
            condition = condition & Key("updated_at").lt(cutoff)
        query: dict[str, Any] = {"IndexName": STATUS_INDEX, "KeyConditionExpression": condition}
        if filters:
            combined: Any = filters[0]
            for extra in filters[1:]:
                combined = combined & extra
            query["FilterExpression"] = combined
        while True:
            answer = table.query(**query)
            for item in answer.get("Items", []):
                yield item
                found += 1
                if found >= limit:
                    return
            if "LastEvaluatedKey" not in answer:
                break
            query["ExclusiveStartKey"] = answer["LastEvaluatedKey"]


def get(table: Any, job_id: str) -> dict[str, Any] | None:
    item: dict[str, Any] | None = table.get_item(Key={"job_id": job_id}, ConsistentRead=True).get("Item")
    return item


def redact_url(url: str | None) -> str | None:
    """Callback URLs may carry a token in their query or user part: show where, not the secret."""
    if not url:
        return url
    parts = urlsplit(url)
    host = parts.hostname or ""
    port = f":{parts.port}" if parts.port else ""
    return f"{parts.scheme}://{host}{port}{parts.path}" + ("?…" if parts.query else "")


def summary(item: dict[str, Any]) -> dict[str, Any]:
    error = item.get("error") or {}
    return {
        "job_id": item.get("job_id"),
        "client_id": item.get("client_id"),
        "status": item.get("status"),
        "tool": item.get("tool"),
        "updated_at": item.get("updated_at"),
        "created_at": item.get("created_at"),
        "error": f"{error.get('source')}/{error.get('code')}" if error else None,
        "callback": item.get("callback_state"),
    }


def story(item: dict[str, Any]) -> dict[str, Any]:
    """One job as an operator needs it: what it is, where it stands, what happened to it (as far as
    the item records; the logs query in the runbook shows every step)."""
    error = item.get("error")
    outputs = item.get("outputs") or {}
    events: list[tuple[str, str]] = [(str(item.get("created_at")), "accepted")]
    if item.get("project_id"):
        events.append(("", f"project {item['project_id']} at Magic Hour"))
    for index, output in sorted(outputs.items(), key=lambda pair: int(pair[0])):
        events.append(
            (str(output.get("stored_at", "")), f"output {index} stored ({output.get('size_bytes')} B)")
        )
    if error:
        events.append((str(item.get("updated_at")), f"failed: {error.get('source')}/{error.get('code')}"))
    events.append((str(item.get("updated_at")), f"last move: now {item.get('status')}"))
    if item.get("callback_state"):
        events.append(
            (
                "",
                f"callback {item['callback_state']} after {int(item.get('callback_attempts', 0))} attempt(s)"
                + (f"; last error: {item['callback_last_error']}" if item.get("callback_last_error") else ""),
            )
        )
    watched = item.get("active") == job_store.ACTIVE
    return {
        "job_id": item.get("job_id"),
        "client_id": item.get("client_id"),
        "tool": item.get("tool"),
        "kind": item.get("kind"),
        "status": item.get("status"),
        "project_id": item.get("project_id"),
        "credits_charged": _number(item.get("credits_charged")),
        "created_at": item.get("created_at"),
        "updated_at": item.get("updated_at"),
        "error": error,
        "outputs": {
            k: {"s3_key": v.get("s3_key"), "size_bytes": _number(v.get("size_bytes"))}
            for k, v in outputs.items()
        },
        "output_count": _number(item.get("output_count")),
        "callback_url": redact_url(item.get("callback_url")),
        "callback": {
            "state": item.get("callback_state"),
            "attempts": _number(item.get("callback_attempts")),
            "last_error": item.get("callback_last_error"),
            "queued": item.get("callback_queued"),
        },
        "sweep": {
            "watched": watched,
            "next_check_at": _when(item.get("next_check_at")) if watched else None,
            "checks": _number(item.get("sweep_checks")),
        },
        "history": [{"at": at, "what": what} for at, what in sorted(events, key=lambda e: e[0] or "~")],
    }


def _number(value: Any) -> int | None:
    return int(value) if value is not None else None


def _when(epoch: Any) -> str | None:
    return iso(datetime.fromtimestamp(int(epoch), UTC)) if epoch is not None else None


def fail(job_id: str, reason: str) -> Job | None:
    """Fail a job that has not ended (an ended job's status is final). The failed job, or None when
    it had already ended (repeating this changes nothing).

    The pipeline's own move (jobs/moves.py): in the write that fails the job it leaves the
    dispatcher's queue, gives back its Magic Hour slot and is watched (callback owed) or not as
    every failure is; then its credits leave the client's usage (not a download's), the dispatcher
    is woken for a freed slot, JobsEnded is counted and its callback is queued."""
    job = job_store.get_job(job_id)
    if job is None:
        raise LookupError(f"no job {job_id}")
    if job.status.is_terminal:
        return None
    error = JobError(
        code=OPERATOR_FAILED,
        message=f"failed by an operator: {reason}"[:500],
        source=failure_source(job.status),
    )
    return moves.fail(job, error, [JobStatus(status) for status in NOT_ENDED])


def resweep(job_id: str, now_epoch: int) -> bool:
    """Make a job the sweep still watches due at its next run, with its back-off reset. False for
    a job the sweep no longer watches (ended and settled)."""
    return job_store.schedule_check(job_id, now_epoch, 0)


def reopen_callback(table: Any, job_id: str) -> str:
    """Before a dead-lettered callback is redelivered: the callback function ignores tasks whose
    callback is no longer `pending`, so a `failed` one goes back to `pending`. Returns what the job
    said: `reopened`, `already_pending`, `delivered` or `missing`."""
    item = get(table, job_id)
    if item is None or not item.get("callback_url"):
        return "missing"
    state = item.get("callback_state")
    if state in ("delivered", None):
        return "delivered"
    if state == "pending":
        return "already_pending"
    try:
        table.update_item(
            Key={"job_id": job_id},
            UpdateExpression="SET callback_state = :pending, callback_queued = :yes",
            ConditionExpression="callback_state = :failed",
            ExpressionAttributeValues={":pending": "pending", ":failed": "failed", ":yes": True},
        )
    except ClientError as error:
        if dynamo.is_condition_failure(error):
            return "already_pending"
        raise
    return "reopened"


def reopen_batch_end(table: Any, client_id: str, batch_id: str) -> str:
    """Before a dead-lettered batch end (its results file, its callback) is redelivered: a batch
    still without its file is sent back as it is (the task writes it first), a `failed` callback
    goes back to `pending`. Returns `send`, `delivered` (nothing left to do) or `missing`."""
    key = {"client_id": client_id, "item": f"batch#{batch_id}"}
    item = table.get_item(Key=key, ConsistentRead=True).get("Item")
    if item is None:
        return "missing"
    if item.get("callback_state") == "failed":
        table.update_item(
            Key=key,
            UpdateExpression="SET callback_state = :pending",
            ExpressionAttributeValues={":pending": "pending"},
        )
        return "send"
    owed = item.get("callback_url") and item.get("callback_state") != "delivered"
    return "send" if owed or not item.get("results_key") else "delivered"


def allow_redrive(table: Any, job_id: str, index: int) -> str:
    """Before a dead-lettered download is sent back: the operator's mark that lets that output's
    message revive the job it failed (the downloader revives nothing without it). Returns
    `marked`, `not_failed` (the message goes back all the same: a job still downloading takes
    it, one that ended otherwise drops it) or `missing`."""
    try:
        table.update_item(
            Key={"job_id": job_id},
            UpdateExpression="SET redrive_output_index = :index",
            ConditionExpression="#s = :failed AND failed_output_index = :index",
            ExpressionAttributeNames={"#s": "status"},
            ExpressionAttributeValues={":index": index, ":failed": JobStatus.FAILED.value},
        )
    except ClientError as error:
        if not dynamo.is_condition_failure(error):
            raise
        return "not_failed" if get(table, job_id) is not None else "missing"
    return "marked"


def download_redrive_check(table: Any) -> Callable[[dict[str, Any]], str]:
    """The check `ops redrive download` runs on each dead-lettered message before sending it."""

    def check(body: dict[str, Any]) -> str:
        job_id, index = body.get("job_id"), body.get("index")
        if not isinstance(job_id, str) or not isinstance(index, int) or isinstance(index, bool):
            return "not_a_task"
        if allow_redrive(table, job_id, index) == "missing":
            return "missing"
        return "send"

    return check
