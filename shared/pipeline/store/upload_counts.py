"""Uploads minted per client and UTC day: one counter, `uploads`, on the client's usage day item
(`usage#<day>`, store/usage.py), so `GET /v1/usage` reads it with the day's credits.

Each minted URL is one conditional write: the count goes up only while it is under the quota, so
concurrent requests cannot mint more than the quota between them (DynamoDB serialises writes to
one item), and a refused request counts nothing.
"""

from __future__ import annotations

from typing import Any

from pipeline.platform.timeutil import epoch_seconds
from pipeline.store import clients, dynamo
from pipeline.store.usage import USAGE_TTL_DAYS


def count_one(client_id: str, day: str, quota: int) -> bool:
    """Count one upload of `client_id` on `day`; False (nothing counted) when `quota` uploads were
    already counted. A quota of 0 counts without a bound."""
    values: dict[str, Any] = {":one": 1, ":expires": epoch_seconds() + USAGE_TTL_DAYS * 86400}
    update: dict[str, Any] = {
        "Key": {"client_id": client_id, "item": clients.usage_item(day)},
        "UpdateExpression": "ADD uploads :one SET expires_at_epoch = :expires",
        "ExpressionAttributeValues": values,
    }
    if quota > 0:
        update["ConditionExpression"] = "attribute_not_exists(uploads) OR uploads < :quota"
        values[":quota"] = quota
    return dynamo.conditionally(lambda: clients.table().update_item(**update)) is not None
