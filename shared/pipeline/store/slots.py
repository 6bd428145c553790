"""Magic Hour concurrency slots, kept in the clients table (the fair queue: store/fair_queue.py).

Slots are items `slot#NNNN` in the pipeline's own partition, each naming the job that holds it.
A job takes a slot in the same transaction that moves it from `waiting` to `submitting`, and gives
it back in the same transaction that moves it out of the statuses Magic Hour renders in, so at any
moment the holders are exactly the jobs Magic Hour may be rendering: never more than the limit,
even with many concurrent submissions and duplicate webhooks. Reading the holders is one strongly
consistent query, so the sweep can check each holder and reclaim a slot whose job vanished.
"""

from __future__ import annotations

import random
from collections import Counter
from collections.abc import Iterator
from typing import Any

from boto3.dynamodb.conditions import Key
from botocore.exceptions import ClientError

from pipeline.store import clients, dynamo

PIPELINE = clients.PIPELINE
_SLOT_PREFIX = "slot#"


def slot_item(index: int) -> str:
    return f"{_SLOT_PREFIX}{index:04d}"


def _taken() -> Iterator[dict[str, Any]]:
    """Every slot item that names a holder (one strongly consistent query, paged)."""
    query: dict[str, Any] = {
        "KeyConditionExpression": Key("client_id").eq(PIPELINE) & Key("item").begins_with(_SLOT_PREFIX),
        "ConsistentRead": True,
    }
    while True:
        answer = clients.table().query(**query)
        yield from (item for item in answer.get("Items", []) if item.get("holder"))
        if "LastEvaluatedKey" not in answer:
            return
        query["ExclusiveStartKey"] = answer["LastEvaluatedKey"]


def holders() -> dict[int, str]:
    """Every taken slot and the job holding it."""
    return {int(str(item["item"])[len(_SLOT_PREFIX) :]): str(item["holder"]) for item in _taken()}


def held_by_client() -> dict[str, int]:
    """How many slots each client's jobs hold. A slot taken before slots named their client
    counts for nobody until it is given back."""
    return dict(Counter(str(item["holder_client"]) for item in _taken() if item.get("holder_client")))


def free_slot(limit: int, spread: bool = False) -> int | None:
    """A slot below `limit` nobody holds: the lowest, or with `spread` any one (concurrent takers
    of a large pool then rarely race for the same item)."""
    taken = holders()
    if spread:
        free = [index for index in range(limit) if index not in taken]
        return random.choice(free) if free else None  # noqa: S311  # nosec B311: spreading, not secret
    return next((index for index in range(limit) if index not in taken), None)


def take(index: int, job_id: str, client_id: str) -> dict[str, Any]:
    """The transaction part that takes a free slot for a job (naming its client, for the cap on
    what one client holds while others wait)."""
    return {
        "Update": {
            "TableName": clients.table().name,
            "Key": {"client_id": PIPELINE, "item": slot_item(index)},
            "UpdateExpression": "SET holder = :job, holder_client = :client",
            "ConditionExpression": "attribute_not_exists(holder)",
            "ExpressionAttributeValues": {":job": job_id, ":client": client_id},
        }
    }


def give_back(index: int, job_id: str) -> dict[str, Any]:
    """The transaction part that frees the slot a job holds."""
    return {
        "Update": {
            "TableName": clients.table().name,
            "Key": {"client_id": PIPELINE, "item": slot_item(index)},
            "UpdateExpression": "REMOVE holder, holder_client",
            "ConditionExpression": "holder = :job",
            "ExpressionAttributeValues": {":job": job_id},
        }
    }


def reclaim(index: int, job_id: str) -> bool:
    """Free a slot whose holder no longer holds it (the sweep checked). False when it changed."""
    try:
        clients.table().update_item(
            Key={"client_id": PIPELINE, "item": slot_item(index)},
            UpdateExpression="REMOVE holder, holder_client",
            ConditionExpression="holder = :job",
            ExpressionAttributeValues={":job": job_id},
        )
    except ClientError as error:
        if dynamo.is_condition_failure(error):
            return False
        raise
    return True
