"""How a job is stored in the jobs table: its item (to and from), its indexes, and its size.

The table's readers (store/job_reads.py) and writers (store/job_moves.py, store/job_marks.py)
share these; store/jobs.py is the one name the rest of the code imports them by.
"""

from __future__ import annotations

import json
from typing import Any

from pipeline.models.job import Job, JobStatus
from pipeline.platform.aws import dynamodb_table
from pipeline.platform.settings import get_settings
from pipeline.platform.timeutil import epoch_seconds
from pipeline.store import dynamo

CLIENT_INDEX = "ClientJobsIndex"
ACTIVE_INDEX = "ActiveJobsIndex"
# The partition of the sweep's sparse index: present only while a job still needs watching.
ACTIVE = "1"
CLIENT_STATUS_INDEX = "ClientStatusJobsIndex"
PROJECT_INDEX = "ProjectIndex"
# The fair queue: sparse (only `waiting` jobs carry `waiting`), ordered by fair_key.
WAITING_INDEX = "WaitingJobsIndex"
WAITING = "1"


def table() -> Any:
    return dynamodb_table(get_settings().require("jobs_table_name"))


def to_item(job: Job, next_check_at: int | None = None) -> dict[str, Any]:
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


def from_item(item: dict[str, Any]) -> Job:
    data = dict(item)
    data["metadata"] = json.loads(data.pop("metadata_json", "{}") or "{}")
    data["input"] = json.loads(data.pop("input_json", "{}") or "{}")
    return Job.model_validate(data)


def update_expression(
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
    item = to_item(job, next_check_at)
    size = sum(len(name.encode()) + item_size_bytes(value) for name, value in item.items())
    if size > NEW_JOB_LIMIT_BYTES:
        raise JobTooLarge(size)
