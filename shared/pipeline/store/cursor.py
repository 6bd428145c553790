"""The cursor of `GET /v1/jobs`: DynamoDB's LastEvaluatedKey, made opaque, bound to its client.

A security rule as much as a codec: a cursor comes back from the caller, so decoding it checks
every part before it reaches DynamoDB as an ExclusiveStartKey (another client's key must never).
"""

from __future__ import annotations

import base64
import json
import re
from typing import Any

from pipeline.platform import ids


class InvalidCursor(ValueError):
    pass


def encode(last_key: dict[str, Any], client_id: str, scope: str) -> str:
    """Opaque to callers; bound to the client and the status filter it was issued for."""
    document = {"c": client_id, "s": scope, "k": {name: str(value) for name, value in last_key.items()}}
    return base64.urlsafe_b64encode(json.dumps(document, separators=(",", ":")).encode()).decode().rstrip("=")


# A cursor is DynamoDB's LastEvaluatedKey, so a forged one reaches DynamoDB as ExclusiveStartKey:
# anything but exactly the key of the index queried (the table key plus the index's keys, of this
# client and this status filter) makes DynamoDB answer ValidationException. So every part is
# checked: names, types, formats, and that they belong to this client and listing.
_CURSOR_MAX_CHARS = 1024
_CREATED = re.compile(
    r"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(?:\.\d{1,6})?Z#(?P<job_id>[a-z0-9_]{1,64})", re.ASCII
)


def decode(cursor: str, client_id: str, scope: str) -> dict[str, Any]:
    try:
        if len(cursor) > _CURSOR_MAX_CHARS or not cursor.isascii():
            raise ValueError("not a cursor")
        padded = cursor + "=" * (-len(cursor) % 4)
        document = json.loads(base64.urlsafe_b64decode(padded.encode()))
        key = document["k"]
        if not isinstance(key, dict) or not all(isinstance(value, str) for value in key.values()):
            raise TypeError("cursor key is not a map of strings")
        partition = ("client_status", f"{client_id}#{scope}") if scope else ("client_id", client_id)
        created = _CREATED.fullmatch(key.get("client_created", ""))
        valid = (
            document["c"] == client_id
            and document.get("s", "") == scope
            and set(key) == {"job_id", "client_created", partition[0]}
            and key[partition[0]] == partition[1]
            and ids.is_job_id(key["job_id"])
            and created is not None
            and created["job_id"] == key["job_id"]
        )
    except (ValueError, KeyError, TypeError) as exc:
        raise InvalidCursor("cursor is not one this API issued") from exc
    if not valid:
        raise InvalidCursor("cursor is not one this API issued")
    return dict(key)


def decode_position(cursor: str, client_id: str, scope: str) -> int:
    """The position a cursor of `encode({"i": ...})` names (a batch's jobs are listed by their
    place in the batch, not by a DynamoDB key): checked like any cursor of this client and scope."""
    try:
        if len(cursor) > _CURSOR_MAX_CHARS or not cursor.isascii():
            raise ValueError("not a cursor")
        document = json.loads(base64.urlsafe_b64decode((cursor + "=" * (-len(cursor) % 4)).encode()))
        key = document["k"]
        position = key["i"]
        valid = (
            document["c"] == client_id
            and document.get("s", "") == scope
            and set(key) == {"i"}
            and isinstance(position, str)
            and position.isascii()
            and position.isdigit()
            and len(position) <= 6
        )
    except (ValueError, KeyError, TypeError) as exc:
        raise InvalidCursor("cursor is not one this API issued") from exc
    if not valid:
        raise InvalidCursor("cursor is not one this API issued")
    return int(position)


_BATCH_CREATED = re.compile(
    r"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(?:\.\d{1,6})?Z#(?P<batch_id>[a-z0-9_]{1,64})", re.ASCII
)
BATCH_SCOPE = "batches"


def decode_batch_key(cursor: str, client_id: str) -> dict[str, Any]:
    """The LastEvaluatedKey of a page of `GET /v1/batches` (ClientBatchesIndex): exactly the
    clients table's key and the index's, all of this client's partition and one batch's item."""
    try:
        if len(cursor) > _CURSOR_MAX_CHARS or not cursor.isascii():
            raise ValueError("not a cursor")
        document = json.loads(base64.urlsafe_b64decode((cursor + "=" * (-len(cursor) % 4)).encode()))
        key = document["k"]
        if not isinstance(key, dict) or not all(isinstance(value, str) for value in key.values()):
            raise TypeError("cursor key is not a map of strings")
        created = _BATCH_CREATED.fullmatch(key.get("batch_created", ""))
        valid = (
            document["c"] == client_id
            and document.get("s", "") == BATCH_SCOPE
            and set(key) == {"client_id", "item", "batch_client", "batch_created"}
            and key["client_id"] == client_id
            and key["batch_client"] == client_id
            and created is not None
            and ids.is_batch_id(created["batch_id"])
            and key["item"] == f"batch#{created['batch_id']}"
        )
    except (ValueError, KeyError, TypeError) as exc:
        raise InvalidCursor("cursor is not one this API issued") from exc
    if not valid:
        raise InvalidCursor("cursor is not one this API issued")
    return dict(key)
