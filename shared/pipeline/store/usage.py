"""Per-client credit usage and daily budgets, kept in the clients table.

A charge is recorded once per job: one transaction writes a `charge#<job_id>` marker (only if none
exists) and adds to that day's `usage#<day>` counters, so the several places that learn a job was
charged (submit, the webhook adopting an orphan project, a retry of either) count it once. A refund
reverses exactly what the marker recorded, once. Usage is then a single item read, never a scan.
"""

from __future__ import annotations

import random
import time
from dataclasses import dataclass
from typing import Any

from botocore.exceptions import ClientError

from pipeline.platform.settings import get_settings
from pipeline.platform.timeutil import epoch_seconds
from pipeline.store import clients

# Usage answers are asked for by day; a year and a bit covers any monthly or yearly reconciliation.
USAGE_TTL_DAYS = 400
BUDGET_FIELD = "daily_credit_budget"
# A refund and a charge of the same job can race (the webhook fails a job while submit is still
# recording its charge); each retries on the other's write, a few times at most.
_REFUND_ATTEMPTS = 4
_CONFLICT_ATTEMPTS = 6


@dataclass(frozen=True)
class Usage:
    day: str
    credits_charged: int
    jobs: int


def charge_item(job_id: str) -> str:
    return f"charge#{job_id}"


def _expiry() -> int:
    return epoch_seconds() + USAGE_TTL_DAYS * 86400


def _transact(items: list[dict[str, Any]]) -> bool:
    """False when a condition in the transaction failed (nothing was written). The table
    resource's client takes plain Python values here, as the table's own calls do."""
    for attempt in range(_CONFLICT_ATTEMPTS):
        try:
            clients.table().meta.client.transact_write_items(TransactItems=items)
        except ClientError as exc:
            codes = {reason.get("Code") for reason in exc.response.get("CancellationReasons") or []}
            if "ConditionalCheckFailed" in codes:
                return False
            # Another client request's transaction on the same day counter: DynamoDB cancels rather
            # than queues, and boto3 does not retry a cancelled transaction.
            if "TransactionConflict" in codes and attempt + 1 < _CONFLICT_ATTEMPTS:
                # Jitter only, nothing secret.
                time.sleep(random.uniform(0.01, 0.05) * (attempt + 1))  # noqa: S311  # nosec B311
                continue
            raise
        return True
    raise AssertionError("unreachable")


def _usage_update(client_id: str, day: str, credits: int, jobs: int) -> dict[str, Any]:
    return {
        "Update": {
            "TableName": clients.table().name,
            "Key": {"client_id": client_id, "item": clients.usage_item(day)},
            "UpdateExpression": "ADD credits_charged :credits, jobs :jobs SET expires_at_epoch = :expires",
            "ExpressionAttributeValues": {":credits": credits, ":jobs": jobs, ":expires": _expiry()},
        }
    }


def record_charge(client_id: str, job_id: str, credits: int, day: str) -> bool:
    """Count a job's credits on `day`; False (and nothing changed) when this job was already
    charged or refunded."""
    return _transact(
        [
            _new_marker(client_id, job_id, {"credits": credits, "day": day}),
            _usage_update(client_id, day, credits, 1),
        ]
    )


def _new_marker(client_id: str, job_id: str, values: dict[str, Any]) -> dict[str, Any]:
    # An update that may only create the item: UpdateItem rather than PutItem, so no function
    # needs PutItem for usage (the internet-facing webhook has none).
    fields = [*values.items(), ("expires_at_epoch", _expiry())]
    return {
        "Update": {
            "TableName": clients.table().name,
            "Key": {"client_id": client_id, "item": charge_item(job_id)},
            "UpdateExpression": "SET " + ", ".join(f"#f{i} = :v{i}" for i in range(len(fields))),
            "ConditionExpression": "attribute_not_exists(#item)",
            "ExpressionAttributeNames": {
                "#item": "item",
                **{f"#f{i}": name for i, (name, _) in enumerate(fields)},
            },
            "ExpressionAttributeValues": {f":v{i}": value for i, (_, value) in enumerate(fields)},
        }
    }


def record_refund(client_id: str, job_id: str) -> bool:
    """Take a failed job's charge back out of the day it was counted on; False when there was
    nothing (left) to refund.

    A job refunded before its charge was recorded gets a refunded marker with nothing in it, so the
    late charge is a no-op: a failed job never counts, whatever the order of the two writes."""
    for _ in range(_REFUND_ATTEMPTS):
        marker = clients.get_item(client_id, charge_item(job_id))
        if marker is None:
            if _mark_refunded_before_charge(client_id, job_id):
                return False
            continue  # the charge landed just now: reverse it
        if marker.get("refunded"):
            return False
        credits = int(marker.get("credits", 0))
        reversed_ = _transact(
            [
                {
                    "Update": {
                        "TableName": clients.table().name,
                        "Key": {"client_id": client_id, "item": charge_item(job_id)},
                        "UpdateExpression": "SET refunded = :yes",
                        "ConditionExpression": "attribute_exists(#item) AND attribute_not_exists(refunded)",
                        "ExpressionAttributeNames": {"#item": "item"},
                        "ExpressionAttributeValues": {":yes": True},
                    }
                },
                _usage_update(client_id, str(marker["day"]), -credits, -1),
            ]
        )
        if reversed_:
            return True
    return False


def _mark_refunded_before_charge(client_id: str, job_id: str) -> bool:
    return _transact([_new_marker(client_id, job_id, {"credits": 0, "refunded": True})])


def usage_of(client_id: str, day: str) -> Usage:
    found = clients.get_item(client_id, clients.usage_item(day)) or {}
    return Usage(
        day=day, credits_charged=int(found.get("credits_charged", 0)), jobs=int(found.get("jobs", 0))
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
