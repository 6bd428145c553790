"""Reading the jobs table: one job, the fair queue's head, a client's pages, the sweep's due jobs."""

from __future__ import annotations

from dataclasses import dataclass

from boto3.dynamodb.conditions import Key

from pipeline.models.job import Job, JobStatus
from pipeline.store import cursor as cursor_codec
from pipeline.store import job_items
from pipeline.store.job_items import (
    ACTIVE,
    ACTIVE_INDEX,
    CLIENT_INDEX,
    CLIENT_STATUS_INDEX,
    PROJECT_INDEX,
    WAITING,
    WAITING_INDEX,
    from_item,
)


@dataclass(frozen=True)
class WaitingEntry:
    job_id: str
    fair_key: str
    client_id: str = ""  # projected by the index: the fair share counts the clients waiting


@dataclass(frozen=True)
class JobPage:
    jobs: list[Job]
    next_cursor: str | None


def get_job(job_id: str) -> Job | None:
    item = job_items.table().get_item(Key={"job_id": job_id}, ConsistentRead=True).get("Item")
    return from_item(item) if item else None


def waiting_jobs(limit: int) -> list[WaitingEntry]:
    """The head of the fair queue, fairest first."""
    answer = job_items.table().query(
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


def find_job_by_project(project_id: str) -> Job | None:
    answer = job_items.table().query(
        IndexName=PROJECT_INDEX, KeyConditionExpression=Key("project_id").eq(project_id), Limit=1
    )
    items = answer.get("Items", [])
    return get_job(str(items[0]["job_id"])) if items else None


def list_jobs(client_id: str, status: JobStatus | None, limit: int, cursor: str | None) -> JobPage:
    if status is None:
        index, key_condition = CLIENT_INDEX, Key("client_id").eq(client_id)
    else:
        index, key_condition = CLIENT_STATUS_INDEX, Key("client_status").eq(f"{client_id}#{status.value}")
    query: dict[str, object] = {
        "IndexName": index,
        "KeyConditionExpression": key_condition,
        "ScanIndexForward": False,
        "Limit": limit,
    }
    scope = status.value if status is not None else ""
    if cursor:
        query["ExclusiveStartKey"] = cursor_codec.decode(cursor, client_id, scope)
    answer = job_items.table().query(**query)
    jobs = [from_item(item) for item in answer.get("Items", [])]
    last_key = answer.get("LastEvaluatedKey")
    return JobPage(jobs, cursor_codec.encode(last_key, client_id, scope) if last_key else None)


def due_for_check(now: int, limit: int) -> list[Job]:
    """Jobs the sweep should look at now: not moved for a while, or owed a callback."""
    answer = job_items.table().query(
        IndexName=ACTIVE_INDEX,
        KeyConditionExpression=Key("active").eq(ACTIVE) & Key("next_check_at").lte(now),
        Limit=limit,
    )
    return [from_item(item) for item in answer.get("Items", [])]
