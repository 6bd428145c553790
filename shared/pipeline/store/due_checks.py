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


def due_checks(after: int | None, now: int, limit: int) -> list[DueCheck]:
    """At most `limit` jobs due by `now` (and due after `after`, when given), oldest first."""
    when = Key("next_check_at")
    key = Key("active").eq(ACTIVE) & (when.lte(now) if after is None else when.between(after + 1, now))
    query: dict[str, Any] = {
        "IndexName": ACTIVE_INDEX,
        "KeyConditionExpression": key,
        "ProjectionExpression": "job_id, client_id, #s, next_check_at",
        "ExpressionAttributeNames": {"#s": "status"},
    }
    table = dynamodb_table(get_settings().require("jobs_table_name"))
    found: list[DueCheck] = []
    while len(found) < limit:
        answer = table.query(**query, Limit=min(_PAGE, limit - len(found)))
        found.extend(
            DueCheck(
                job_id=str(item["job_id"]),
                client_id=str(item.get("client_id", "")),
                status=str(item.get("status", "")),
                next_check_at=int(item["next_check_at"]),
            )
            for item in answer.get("Items", [])
        )
        if "LastEvaluatedKey" not in answer:
            break
        query["ExclusiveStartKey"] = answer["LastEvaluatedKey"]
    return found
