"""The clients table: per-client state that is not a job.

One partition per client. The `profile` item holds settings an operator or the client changes
(daily credit budget, callback-secret version and rotation); `usage#YYYY-MM-DD` items hold the
counters kept as that client's jobs are charged, so usage is a single read, never a scan.
"""

from __future__ import annotations

from typing import Any

from pipeline.platform.aws import dynamodb_table
from pipeline.platform.settings import get_settings

PROFILE = "profile"
# The pipeline's own partition (slots, the fair queue's `dispatch` item, leases): API key ids never
# start with '#'.
PIPELINE = "#pipeline"


def usage_item(day: str) -> str:
    return f"usage#{day}"


def table() -> Any:
    return dynamodb_table(get_settings().require("clients_table_name"))


def get_item(client_id: str, item: str) -> dict[str, Any] | None:
    answer = table().get_item(Key={"client_id": client_id, "item": item}, ConsistentRead=True)
    found: dict[str, Any] | None = answer.get("Item")
    return found


def get_profile(client_id: str) -> dict[str, Any]:
    return get_item(client_id, PROFILE) or {"client_id": client_id, "item": PROFILE}


# -- callback secret versions (the secrets themselves are derived, never stored) -----------------

# Attribute names, not secrets.
CALLBACK_SECRET_VERSION = "callback_secret_version"  # noqa: S105  # nosec B105
CALLBACK_SECRET_PREVIOUS_VERSION = "callback_secret_previous_version"  # noqa: S105  # nosec B105
CALLBACK_SECRET_ROTATED_AT = "callback_secret_rotated_at"  # noqa: S105  # nosec B105


def rotate_callback_secret(client_id: str, now: float) -> dict[str, Any]:
    """Bump the client's callback-secret version in one atomic update and return the new profile.

    Every right-hand side reads the item as it was before this update, so `previous` is exactly
    the version this rotation replaced, and concurrent rotations get distinct versions."""
    answer = table().update_item(
        Key={"client_id": client_id, "item": PROFILE},
        UpdateExpression=(
            "SET #previous = if_not_exists(#version, :zero), "
            "#version = if_not_exists(#version, :zero) + :one, #rotated = :now"
        ),
        ExpressionAttributeNames={
            "#version": CALLBACK_SECRET_VERSION,
            "#previous": CALLBACK_SECRET_PREVIOUS_VERSION,
            "#rotated": CALLBACK_SECRET_ROTATED_AT,
        },
        ExpressionAttributeValues={":zero": 0, ":one": 1, ":now": int(now)},
        ReturnValues="ALL_NEW",
    )
    attributes: dict[str, Any] = answer["Attributes"]
    return attributes
