"""Each client's callback lane: at most `cap` of its callback attempts in flight at once.

A place in the lane is an item (client id, place number) in the callback lanes table naming the
attempt that holds it and when the hold runs out. Taking one is one strongly consistent query of
the client's places and one conditional write on a free (or run-out) one, so two attempts can
never hold the same place; an attempt that crashes or times out simply lets its hold run out, so
a lane never stays full for longer than one hold. The table has no stream: holds come and go with
every attempt and are nobody else's business.
"""

from __future__ import annotations

import contextlib
from typing import Any

from boto3.dynamodb.conditions import Key
from botocore.exceptions import ClientError

from pipeline.platform.aws import dynamodb_table
from pipeline.platform.settings import get_settings
from pipeline.platform.timeutil import epoch_seconds
from pipeline.store import dynamo

# Two attempts that read the same free place race for it; the loser reads again this many times
# before it counts the lane as full (its message comes back shortly, not as an attempt).
_TRIES = 3
# Run-out holds are removed by DynamoDB's TTL a day later; until then they are simply taken over.
_KEEP_SECONDS = 24 * 3600


def table() -> Any:
    return dynamodb_table(get_settings().require("callback_lanes_table_name"))


def _held(client_id: str, now: int) -> set[int]:
    answer = table().query(
        KeyConditionExpression=Key("client_id").eq(client_id),
        ConsistentRead=True,
    )
    # At most `cap` items, one page: places are numbered below the cap.
    return {int(item["place"]) for item in answer.get("Items", []) if int(item.get("until", 0)) >= now}


def take(client_id: str, holder: str, cap: int, seconds: int) -> int | None:
    """The place `holder` now holds in the client's lane for `seconds`, or None while `cap`
    attempts of the client hold every place."""
    for _ in range(_TRIES):
        now = epoch_seconds()
        held = _held(client_id, now)
        free = next((place for place in range(cap) if place not in held), None)
        if free is None:
            return None
        try:
            table().put_item(
                Item={
                    "client_id": client_id,
                    "place": free,
                    "holder": holder,
                    "until": now + seconds,
                    "expires_at_epoch": now + seconds + _KEEP_SECONDS,
                },
                ConditionExpression="attribute_not_exists(client_id) OR #until < :now",
                ExpressionAttributeNames={"#until": "until"},
                ExpressionAttributeValues={":now": now},
            )
        except ClientError as error:
            if dynamo.is_condition_failure(error):
                continue  # another attempt took it between the read and the write
            raise
        return free
    return None


def give_back(client_id: str, place: int, holder: str) -> None:
    """Best effort: if this fails the hold runs out on its own."""
    with contextlib.suppress(ClientError):
        table().delete_item(
            Key={"client_id": client_id, "place": place},
            ConditionExpression="holder = :holder",
            ExpressionAttributeValues={":holder": holder},
        )
