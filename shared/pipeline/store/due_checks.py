"""The sweep's view of its index (`ActiveJobsIndex`): which jobs are due for a check, read light.

Only the fields the sweep needs to order its work are returned (job, client, status, when due),
so a run can hold tens of thousands of due entries in memory; the job itself is read (strongly
consistent) right before its check.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from boto3.dynamodb.conditions import Key

from pipeline.platform.aws import dynamodb_table
from pipeline.platform.settings import get_settings
from pipeline.store.job_items import ACTIVE, ACTIVE_INDEX

# One page of the index: DynamoDB caps a page at 1 MB anyway; this keeps pages of light entries
# short enough that a run starts checking quickly.
_PAGE = 1000


@dataclass(frozen=True)
class DueCheck:
    job_id: str
    client_id: str
    status: str
    next_check_at: int


# Where the next page of a read starts (DynamoDB's LastEvaluatedKey; opaque to the caller).
PageKey = dict[str, Any]


def _query(after: int | None, now: int) -> dict[str, Any]:
    when = Key("next_check_at")
    key = Key("active").eq(ACTIVE) & (when.lte(now) if after is None else when.between(after + 1, now))
    return {
        "IndexName": ACTIVE_INDEX,
        "KeyConditionExpression": key,
        "ProjectionExpression": "job_id, client_id, #s, next_check_at",
        "ExpressionAttributeNames": {"#s": "status"},
    }


def _entries(answer: dict[str, Any]) -> list[DueCheck]:
    return [
        DueCheck(
            job_id=str(item["job_id"]),
            client_id=str(item.get("client_id", "")),
            status=str(item.get("status", "")),
            next_check_at=int(item["next_check_at"]),
        )
        for item in answer.get("Items", [])
    ]


def due_page(
    after: int | None, now: int, start: PageKey | None, size: int
) -> tuple[list[DueCheck], PageKey | None]:
    """One page (at most `size`) of the jobs due by `now` (and after `after`, when given), oldest
    first, from `start` (None: the first page); and where the next page starts (None: the last)."""
    table = dynamodb_table(get_settings().require("jobs_table_name"))
    query = _query(after, now)
    if start is not None:
        query["ExclusiveStartKey"] = start
    answer = table.query(**query, Limit=min(_PAGE, size))
    return _entries(answer), answer.get("LastEvaluatedKey")


def due_checks(after: int | None, now: int, limit: int) -> list[DueCheck]:
    """At most `limit` jobs due by `now` (and due after `after`, when given), oldest first."""
    found: list[DueCheck] = []
    start: PageKey | None = None
    while len(found) < limit:
        page, start = due_page(after, now, start, limit - len(found))
        found.extend(page)
        if start is None:
            break
    return found
