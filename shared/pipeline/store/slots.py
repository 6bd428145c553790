"""Magic Hour concurrency slots and the fair queue's rounds, kept in the clients table.

Slots are items `slot#NNNN` in the pipeline's own partition, each naming the job that holds it.
A job takes a slot in the same transaction that moves it from `waiting` to `submitting`, and gives
it back in the same transaction that moves it out of the statuses Magic Hour renders in, so at any
moment the holders are exactly the jobs Magic Hour may be rendering: never more than the limit,
even with many concurrent submissions and duplicate webhooks. Reading the holders is one strongly
consistent query, so the sweep can check each holder and reclaim a slot whose job vanished.

Rounds make the queue fair: a client's next job gets round max(its last round + 1, the round last
dispatched), and the dispatcher takes the lowest (round, submitted at). A burst of 500 jobs from one
client takes rounds r..r+499; another client's single job gets the round being dispatched now, so
it waits for at most one slot release behind the burst.
"""

from __future__ import annotations

import contextlib
from typing import Any

from boto3.dynamodb.conditions import Key
from botocore.exceptions import ClientError

from pipeline.store import clients

# The pipeline's own partition of the clients table (API key ids never start with '#').
PIPELINE = "#pipeline"
DISPATCH = "dispatch"
_SLOT_PREFIX = "slot#"


def slot_item(index: int) -> str:
    return f"{_SLOT_PREFIX}{index:04d}"


def holders() -> dict[int, str]:
    """Every taken slot and the job holding it."""
    taken: dict[int, str] = {}
    query: dict[str, Any] = {
        "KeyConditionExpression": Key("client_id").eq(PIPELINE) & Key("item").begins_with(_SLOT_PREFIX),
        "ConsistentRead": True,
    }
    while True:
        answer = clients.table().query(**query)
        for item in answer.get("Items", []):
            if item.get("holder"):
                taken[int(str(item["item"])[len(_SLOT_PREFIX) :])] = str(item["holder"])
        if "LastEvaluatedKey" not in answer:
            return taken
        query["ExclusiveStartKey"] = answer["LastEvaluatedKey"]


def free_slot(limit: int) -> int | None:
    taken = holders()
    return next((index for index in range(limit) if index not in taken), None)


def take(index: int, job_id: str) -> dict[str, Any]:
    """The transaction part that takes a free slot for a job."""
    return {
        "Update": {
            "TableName": clients.table().name,
            "Key": {"client_id": PIPELINE, "item": slot_item(index)},
            "UpdateExpression": "SET holder = :job",
            "ConditionExpression": "attribute_not_exists(holder)",
            "ExpressionAttributeValues": {":job": job_id},
        }
    }


def give_back(index: int, job_id: str) -> dict[str, Any]:
    """The transaction part that frees the slot a job holds."""
    return {
        "Update": {
            "TableName": clients.table().name,
            "Key": {"client_id": PIPELINE, "item": slot_item(index)},
            "UpdateExpression": "REMOVE holder",
            "ConditionExpression": "holder = :job",
            "ExpressionAttributeValues": {":job": job_id},
        }
    }


def reclaim(index: int, job_id: str) -> bool:
    """Free a slot whose holder no longer holds it (the sweep checked). False when it changed."""
    try:
        clients.table().update_item(
            Key={"client_id": PIPELINE, "item": slot_item(index)},
            UpdateExpression="REMOVE holder",
            ConditionExpression="holder = :job",
            ExpressionAttributeValues={":job": job_id},
        )
    except ClientError as error:
        if error.response.get("Error", {}).get("Code") == "ConditionalCheckFailedException":
            return False
        raise
    return True


def hold() -> tuple[int, int]:
    """(until when no create may be sent, how many refusals in a row led to it). Magic Hour's
    429/500/503 speak for the whole account, so the pause is the pipeline's, not one job's."""
    item = clients.get_item(PIPELINE, DISPATCH) or {}
    return int(item.get("hold_until", 0)), int(item.get("hold_streak", 0))


def set_hold(until: int, streak: int) -> None:
    clients.table().update_item(
        Key={"client_id": PIPELINE, "item": DISPATCH},
        UpdateExpression="SET hold_until = :until, hold_streak = :streak",
        ExpressionAttributeValues={":until": until, ":streak": streak},
    )


def clear_hold() -> None:
    """A create went through: Magic Hour has room again."""
    with contextlib.suppress(ClientError):
        clients.table().update_item(
            Key={"client_id": PIPELINE, "item": DISPATCH},
            UpdateExpression="REMOVE hold_until, hold_streak",
            ConditionExpression="attribute_exists(hold_streak)",
        )


def dispatched_round() -> int:
    item = clients.get_item(PIPELINE, DISPATCH) or {}
    return int(item.get("round", 0))


def note_dispatched(round_: int) -> None:
    """Rounds only move forward; a dispatcher that lost a race changes nothing."""
    with contextlib.suppress(ClientError):
        clients.table().update_item(
            Key={"client_id": PIPELINE, "item": DISPATCH},
            UpdateExpression="SET #r = :r",
            ConditionExpression="attribute_not_exists(#r) OR #r < :r",
            ExpressionAttributeNames={"#r": "round"},
            ExpressionAttributeValues={":r": round_},
        )


def next_round_for(client_id: str) -> int:
    """The round of a client's next job: max(its last round + 1, the round dispatched now)."""
    now = dispatched_round()
    try:
        clients.table().update_item(
            Key={"client_id": client_id, "item": clients.PROFILE},
            UpdateExpression="SET fair_round = :r",
            ConditionExpression="attribute_not_exists(fair_round) OR fair_round < :r",
            ExpressionAttributeValues={":r": now},
        )
        return now
    except ClientError as error:
        if error.response.get("Error", {}).get("Code") != "ConditionalCheckFailedException":
            raise
    answer = clients.table().update_item(
        Key={"client_id": client_id, "item": clients.PROFILE},
        UpdateExpression="ADD fair_round :one",
        ExpressionAttributeValues={":one": 1},
        ReturnValues="UPDATED_NEW",
    )
    return int(answer["Attributes"]["fair_round"])


def fair_key(round_: int, created_at: str, job_id: str) -> str:
    return f"{round_:012d}#{created_at}#{job_id}"


def round_of(key: str | None) -> int:
    try:
        return int((key or "").split("#", 1)[0])
    except ValueError:
        return 0
