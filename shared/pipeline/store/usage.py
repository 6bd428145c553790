"""Per-client credit usage and daily budgets, kept in the clients table.

One item per client and UTC day, `usage#<day>`: `credits_charged` and `jobs` (what Magic Hour
charged, as GET /v1/usage shows it), `reserved` (the estimates of jobs admitted and not yet
settled) and `committed` (charged plus reserved, kept beside them so that a reservation's bound is
one condition on one attribute: DynamoDB conditions cannot add). Every change is written in the
same transaction as the job move that causes it (store/jobs.py, jobs/reservations.py), so the job's
own conditional move is what makes it count once. Usage is then a single item read, never a scan.
"""

from __future__ import annotations

import random
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from botocore.exceptions import ClientError

from pipeline.models.usage import OverBudget, UsageChange
from pipeline.platform.settings import get_settings
from pipeline.platform.timeutil import epoch_seconds
from pipeline.store import clients, dynamo

# Usage answers are asked for by day; a year and a bit covers any monthly or yearly reconciliation.
USAGE_TTL_DAYS = 400
BUDGET_FIELD = "daily_credit_budget"
# Transactions on one client's day item conflict when they overlap: DynamoDB cancels rather than
# queues, and boto3 does not retry a cancelled transaction.
_CONFLICT_ATTEMPTS = 8


@dataclass(frozen=True)
class Usage:
    day: str
    credits_charged: int
    jobs: int
    # Charged plus reserved: what the day's budget is measured against.
    committed: int = 0
    # Upload URLs minted that day (store/upload_counts.py).
    uploads: int = 0


def _expiry() -> int:
    return epoch_seconds() + USAGE_TTL_DAYS * 86400


def part(change: UsageChange) -> dict[str, Any]:
    """The transaction item that writes `change` on its day, bounded when it reserves."""
    values: dict[str, Any] = {
        ":reserved": change.reserved,
        ":charged": change.charged,
        ":jobs": change.jobs,
        ":committed": change.reserved + change.charged,
        ":expires": _expiry(),
    }
    update: dict[str, Any] = {
        "TableName": clients.table().name,
        "Key": {"client_id": change.client_id, "item": clients.usage_item(change.day)},
        "UpdateExpression": (
            "ADD reserved :reserved, credits_charged :charged, jobs :jobs, committed :committed "
            "SET expires_at_epoch = :expires"
        ),
        "ExpressionAttributeValues": values,
    }
    if change.within is not None:
        update["ConditionExpression"] = "attribute_not_exists(committed) OR committed <= :within"
        values[":within"] = change.within
    return {"Update": update}


def transact(
    parts: list[dict[str, Any]], write: Callable[[list[dict[str, Any]]], Any] | None = None
) -> list[bool] | None:
    """Write `parts` in one transaction: None when written, else which parts' conditions failed
    (nothing was written). A conflict with another transaction is retried; anything else raises.
    The table resource's client takes plain Python values here, as the table's own calls do."""
    send = write or (lambda items: clients.table().meta.client.transact_write_items(TransactItems=items))
    for attempt in range(_CONFLICT_ATTEMPTS):
        try:
            send(parts)
        except ClientError as exc:
            if not dynamo.is_cancelled(exc):
                raise
            codes = [reason.get("Code") for reason in exc.response.get("CancellationReasons") or []]
            if "ConditionalCheckFailed" in codes:
                return [code == "ConditionalCheckFailed" for code in [*codes, *[None] * len(parts)]][
                    : len(parts)
                ]
            if "TransactionConflict" in codes and attempt + 1 < _CONFLICT_ATTEMPTS:
                # Jitter only, nothing secret.
                time.sleep(random.uniform(0.01, 0.05) * (attempt + 1))  # noqa: S311  # nosec B311
                continue
            raise
        return None
    raise AssertionError("unreachable")


def apply(changes: tuple[UsageChange, ...]) -> None:
    """Write usage changes on their own (no job moves with them). Raises OverBudget."""
    if changes and transact([part(change) for change in changes]) is not None:
        raise OverBudget()


def usage_of(client_id: str, day: str) -> Usage:
    found = clients.get_item(client_id, clients.usage_item(day)) or {}
    return Usage(
        day=day,
        credits_charged=int(found.get("credits_charged", 0)),
        jobs=int(found.get("jobs", 0)),
        committed=int(found.get("committed", 0)),
        uploads=int(found.get("uploads", 0)),
    )


def budget_of(client_id: str) -> int | None:
    """The client's daily credit budget: its own, else the deployment's default (None: none)."""
    budget = clients.get_profile(client_id).get(BUDGET_FIELD)
    if budget is None:
        return get_settings().default_daily_credit_budget or None
    return int(budget)


def set_budget(client_id: str, credits: int | None) -> None:
    """The operator's setting: credits per UTC day, or None for no budget."""
    key = {"client_id": client_id, "item": clients.PROFILE}
    if credits is None:
        clients.table().update_item(Key=key, UpdateExpression=f"REMOVE {BUDGET_FIELD}")
        return
    if isinstance(credits, bool) or not isinstance(credits, int) or credits < 0:
        raise ValueError("a daily credit budget is a whole number of credits, 0 or more")
    clients.table().update_item(
        Key=key,
        UpdateExpression=f"SET {BUDGET_FIELD} = :credits",
        ExpressionAttributeValues={":credits": credits},
    )
