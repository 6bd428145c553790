"""Clients as an operator manages them: `python -m ops clients add|list|show|limit|remove`.

A client is a profile item in the clients table (its daily credit budget) and its credentials:
an API Gateway API key in a usage plan of its own (its throttle and quota; the client id is the
key's id), and/or IAM principals mapped to it (an item per principal, which the submit function
reads: pipeline/callers.py). Every step is idempotent: adding what exists changes nothing,
removing what is gone is not an error. The local stack creates its clients with these functions.
"""

from __future__ import annotations

import contextlib
import re
import time
from dataclasses import dataclass
from typing import Any

from ops import targets
from pipeline import callers
from pipeline.store.clients import PROFILE
from pipeline.store.usage import BUDGET_FIELD

# A client id is a clients-table partition and the API's client everywhere; "#" is reserved for
# the table's other partitions (principal mappings).
CLIENT_ID = re.compile(r"[A-Za-z0-9_.:@-]{1,128}")
PRINCIPALS_FIELD = "principals"
KEY_FIELDS = ("api_key_id", "usage_plan_id")


class ClientError(SystemExit):
    """A refusal of the operator's request, said plainly (exit status 1)."""

    def __init__(self, message: str) -> None:
        super().__init__(f"ops clients: {message}")


@dataclass(frozen=True)
class Limits:
    """A usage plan's throttle and quota (None: left as they are, or API Gateway's default)."""

    rate: float | None = None
    burst: int | None = None
    quota: int | None = None
    quota_period: str = "DAY"


DEFAULT_LIMITS = Limits(rate=20, burst=50, quota=100_000)


def check_client_id(client_id: str) -> str:
    if not CLIENT_ID.fullmatch(client_id):
        raise ClientError(f"a client id is 1..128 of [A-Za-z0-9_.:@-], not {client_id!r}")
    return client_id


def principal_key(arn: str) -> str:
    key = callers.principal_key(arn)
    if key is None:
        raise ClientError(
            f"{arn!r} is not a role or user ARN (arn:aws:iam::<account>:role/<name>, "
            "arn:aws:iam::<account>:user/<name>, or a role session's arn:aws:sts::...:assumed-role/...)"
        )
    return key


def profile(table: Any, client_id: str) -> dict[str, Any] | None:
    item: dict[str, Any] | None = table.get_item(
        Key={"client_id": client_id, "item": PROFILE}, ConsistentRead=True
    ).get("Item")
    return item


def _ensure_profile(table: Any, client_id: str, **fields: Any) -> None:
    names = {f"#f{i}": name for i, name in enumerate(["created_at", *fields])}
    values = {f":v{i}": value for i, value in enumerate([int(time.time()), *fields.values()])}
    sets = ["#f0 = if_not_exists(#f0, :v0)"] + [f"#f{i} = :v{i}" for i in range(1, len(names))]
    table.update_item(
        Key={"client_id": client_id, "item": PROFILE},
        UpdateExpression="SET " + ", ".join(sets),
        ExpressionAttributeNames=names,
        ExpressionAttributeValues=values,
    )


def map_principal(table: Any, client_id: str, arn: str) -> str:
    """Maps the principal to the client: "added", "unchanged", or a ClientError when it already
    belongs to another client (remove it there first: a principal is one client's)."""
    check_client_id(client_id)
    key = principal_key(arn)
    mapping = {"client_id": callers.PRINCIPAL_PREFIX + key, "item": callers.PRINCIPAL_ITEM}
    found = table.get_item(Key=mapping, ConsistentRead=True).get("Item")
    if found and found.get(callers.MAPPED_CLIENT) != client_id:
        raise ClientError(
            f"{key} is mapped to client {found.get(callers.MAPPED_CLIENT)}; remove it there first"
        )
    _ensure_profile(table, client_id)
    table.update_item(
        Key={"client_id": client_id, "item": PROFILE},
        UpdateExpression="ADD #principals :key",
        ExpressionAttributeNames={"#principals": PRINCIPALS_FIELD},
        ExpressionAttributeValues={":key": {key}},
    )
    if found:
        return "unchanged"
    table.put_item(Item={**mapping, callers.MAPPED_CLIENT: client_id, "added_at": int(time.time())})
    return "added"


def unmap_principal(table: Any, client_id: str, key: str) -> None:
    # Gone already, or another client's now: not this client's to remove.
    with contextlib.suppress(table.meta.client.exceptions.ConditionalCheckFailedException):
        table.delete_item(
            Key={"client_id": callers.PRINCIPAL_PREFIX + key, "item": callers.PRINCIPAL_ITEM},
            ConditionExpression="#client = :client",
            ExpressionAttributeNames={"#client": callers.MAPPED_CLIENT},
            ExpressionAttributeValues={":client": client_id},
        )
    if profile(table, client_id) is not None:
        table.update_item(
            Key={"client_id": client_id, "item": PROFILE},
            UpdateExpression="DELETE #principals :key",
            ExpressionAttributeNames={"#principals": PRINCIPALS_FIELD},
            ExpressionAttributeValues={":key": {key}},
        )


def set_budget(table: Any, client_id: str, credits: int | None) -> None:
    """The same field the pipeline reads (pipeline/store/usage.py), on the client's profile."""
    if credits is None:
        table.update_item(
            Key={"client_id": client_id, "item": PROFILE}, UpdateExpression=f"REMOVE {BUDGET_FIELD}"
        )
        return
    if credits < 0:
        raise ClientError("a daily credit budget is a whole number of credits, 0 or more")
    _ensure_profile(table, client_id, **{BUDGET_FIELD: credits})


def _plan_settings(limits: Limits) -> dict[str, Any]:
    settings: dict[str, Any] = {}
    if limits.rate is not None or limits.burst is not None:
        settings["throttle"] = {
            k: v for k, v in (("rateLimit", limits.rate), ("burstLimit", limits.burst)) if v is not None
        }
    if limits.quota is not None:
        settings["quota"] = {"limit": limits.quota, "period": limits.quota_period}
    return settings


def add_key_client(
    session: targets.Session,
    where: targets.Targets,
    name: str,
    limits: Limits = DEFAULT_LIMITS,
    value: str | None = None,
    client_id: str | None = None,
) -> tuple[str, str]:
    """An API key named `name` in a usage plan of its own: (client id, "added" | "unchanged").

    The client id is the key's id (API Gateway hands it to the function). `client_id` is only for
    a gateway that maps key values to clients itself (the local stack's LOCAL_API_KEYS)."""
    gateway = session.client("apigateway")
    existing = [
        key for key in gateway.get_api_keys(nameQuery=name, limit=500)["items"] if key["name"] == name
    ]
    outcome = "unchanged" if existing else "added"
    if existing:
        key = existing[0]
    else:
        options = {"value": value} if value else {}
        key = gateway.create_api_key(name=name, enabled=True, **options)
    owner = check_client_id(client_id or key["id"])
    plan_name = f"client-{name}"
    plans = [plan for plan in gateway.get_usage_plans(limit=500)["items"] if plan["name"] == plan_name]
    if plans:
        plan = plans[0]
    else:
        stages = [{"apiId": where.api_id, "stage": where.api_stage}] if where.api_id else []
        plan = gateway.create_usage_plan(name=plan_name, apiStages=stages, **_plan_settings(limits))
    keys = gateway.get_usage_plan_keys(usagePlanId=plan["id"], limit=500)["items"]
    if not any(item["id"] == key["id"] for item in keys):
        gateway.create_usage_plan_key(usagePlanId=plan["id"], keyId=key["id"], keyType="API_KEY")
    _ensure_profile(
        session.table(where.need("clients_table")),
        owner,
        api_key_id=key["id"],
        usage_plan_id=plan["id"],
        name=name,
    )
    return owner, outcome


def set_limits(session: targets.Session, plan_id: str, limits: Limits) -> None:
    """The usage plan's throttle and quota, as given (the others left as they are)."""
    paths = {
        "/throttle/rateLimit": limits.rate,
        "/throttle/burstLimit": limits.burst,
        "/quota/limit": limits.quota,
    }
    operations = [
        {"op": "replace", "path": path, "value": f"{v:g}"} for path, v in paths.items() if v is not None
    ]
    if limits.quota is not None:
        operations.append({"op": "replace", "path": "/quota/period", "value": limits.quota_period})
    if operations:
        session.client("apigateway").update_usage_plan(usagePlanId=plan_id, patchOperations=operations)


def remove(session: targets.Session, where: targets.Targets, client_id: str) -> list[str]:
    """Removes the client's API key, usage plan, principal mappings and profile; what was removed.
    Its jobs and usage history stay (they expire as every job does)."""
    table = session.table(where.need("clients_table"))
    found = profile(table, client_id)
    if found is None:
        return []
    removed = []
    for key in sorted(found.get(PRINCIPALS_FIELD) or ()):
        unmap_principal(table, client_id, key)
        removed.append(key)
    gateway = session.client("apigateway") if found.get("api_key_id") else None
    if gateway is not None:
        plan_id = found.get("usage_plan_id")
        if plan_id:
            _delete_plan(gateway, str(plan_id))
            removed.append(f"usage plan {plan_id}")
        _ignore_missing(gateway, "delete_api_key", apiKey=found["api_key_id"])
        removed.append(f"api key {found['api_key_id']}")
    table.delete_item(Key={"client_id": client_id, "item": PROFILE})
    removed.append("profile")
    return removed


def _delete_plan(gateway: Any, plan_id: str) -> None:
    try:
        plan = gateway.get_usage_plan(usagePlanId=plan_id)
    except gateway.exceptions.NotFoundException:
        return
    # API Gateway refuses to delete a plan still attached to a stage.
    stages = [
        {"op": "remove", "path": "/apiStages", "value": f"{s['apiId']}:{s['stage']}"}
        for s in plan.get("apiStages") or []
    ]
    if stages:
        gateway.update_usage_plan(usagePlanId=plan_id, patchOperations=stages)
    _ignore_missing(gateway, "delete_usage_plan", usagePlanId=plan_id)


def _ignore_missing(gateway: Any, operation: str, **params: Any) -> None:
    with contextlib.suppress(gateway.exceptions.NotFoundException):
        getattr(gateway, operation)(**params)


def describe(session: targets.Session, where: targets.Targets, client_id: str) -> dict[str, Any] | None:
    found = profile(session.table(where.need("clients_table")), client_id)
    if found is None:
        return None
    shown: dict[str, Any] = {
        "client_id": client_id,
        "name": found.get("name"),
        "daily_credit_budget": found.get(BUDGET_FIELD),
        "principals": sorted(found.get(PRINCIPALS_FIELD) or ()),
        "api_key_id": found.get("api_key_id"),
    }
    plan_id = found.get("usage_plan_id")
    if plan_id:
        plan = session.client("apigateway").get_usage_plan(usagePlanId=plan_id)
        shown["usage_plan"] = {"id": plan_id, "throttle": plan.get("throttle"), "quota": plan.get("quota")}
    return shown


def every_client(session: targets.Session, where: targets.Targets) -> list[str]:
    """Every client with a profile (an operator's listing: a scan, never on a request's path)."""
    table = session.table(where.need("clients_table"))
    found: list[str] = []
    options: dict[str, Any] = {
        "FilterExpression": "#item = :profile",
        "ExpressionAttributeNames": {"#item": "item"},
        "ExpressionAttributeValues": {":profile": PROFILE},
        "ProjectionExpression": "client_id",
    }
    while True:
        page = table.scan(**options)
        found.extend(str(item["client_id"]) for item in page.get("Items", []))
        if "LastEvaluatedKey" not in page:
            return sorted(found)
        options["ExclusiveStartKey"] = page["LastEvaluatedKey"]
