"""The clients table: per-client state that is not a job.

One partition per client. The `profile` item holds settings an operator or the client changes
(daily credit budget, callback-secret version and rotation); `usage#YYYY-MM-DD` items hold the
counters kept as that client's jobs are charged, so usage is a single read, never a scan.
"""

from __future__ import annotations

from typing import Any

from pipeline.aws import dynamodb_table
from pipeline.settings import get_settings

PROFILE = "profile"


def usage_item(day: str) -> str:
    return f"usage#{day}"


def table() -> Any:
    return dynamodb_table(get_settings().clients_table_name)


def get_item(client_id: str, item: str) -> dict[str, Any] | None:
    answer = table().get_item(Key={"client_id": client_id, "item": item}, ConsistentRead=True)
    found: dict[str, Any] | None = answer.get("Item")
    return found


def get_profile(client_id: str) -> dict[str, Any]:
    return get_item(client_id, PROFILE) or {"client_id": client_id, "item": PROFILE}
