"""Rotating the stack's secrets. Values are read from stdin or a file, or generated; they are
never printed or logged."""

from __future__ import annotations

import base64
import json
import secrets as random
from typing import Any

from botocore.exceptions import ClientError


def current(client: Any, secret_id: str) -> str | None:
    try:
        return str(client.get_secret_value(SecretId=secret_id)["SecretString"])
    except ClientError as error:
        if error.response.get("Error", {}).get("Code") == "ResourceNotFoundException":
            return None
        raise


def put(client: Any, secret_id: str, value: str) -> str:
    """Store `value` unless it is already the current one (repeating a rotation changes nothing).
    Returns `stored` or `unchanged`."""
    if not value.strip():
        raise ValueError("refusing to store an empty secret")
    if current(client, secret_id) == value:
        return "unchanged"
    client.put_secret_value(SecretId=secret_id, SecretString=value)
    return "stored"


def webhook_begin(client: Any, secret_id: str, new: str) -> str:
    """Phase 1 of a Magic Hour webhook secret rotation: accept the old and the new secret."""
    existing = current(client, secret_id) or ""
    if existing.strip().startswith("{"):
        document = json.loads(existing)
        old = str(document.get("current") or "")
        if document.get("next") == new:
            return "unchanged"
    else:
        old = existing.strip()
    if old == new:
        return "unchanged"
    return put(client, secret_id, json.dumps({"current": old, "next": new}))


def webhook_finish(client: Any, secret_id: str) -> str:
    """Phase 2, once Magic Hour signs with the new secret: keep only the new one."""
    existing = (current(client, secret_id) or "").strip()
    if not existing.startswith("{"):
        return "unchanged"
    document = json.loads(existing)
    if not document.get("next"):
        raise ValueError("the stored rotation names no next secret")
    return put(client, secret_id, str(document["next"]))


def path_token_begin(client: Any, secret_id: str) -> str:
    """Phase 1 of a webhook path token rotation: a new random token, the old one still accepted
    (`{"current": "<new>", "previous": "<old>"}`). Repeating it while a rotation is open changes
    nothing, so a retried command never strands the URL just registered."""
    existing = (current(client, secret_id) or "").strip()
    if existing.startswith("{"):
        document = json.loads(existing)
        if document.get("previous"):
            return "unchanged"
        existing = str(document.get("current") or "")
    new = random.token_hex(20)
    document = {"current": new, "previous": existing} if existing else {"current": new}
    return put(client, secret_id, json.dumps(document))


def path_token_finish(client: Any, secret_id: str) -> str:
    """Phase 2, once Magic Hour delivers to the new URL: the old token no longer opens the route."""
    existing = (current(client, secret_id) or "").strip()
    if not existing.startswith("{"):
        return "unchanged"
    document = json.loads(existing)
    if not document.get("current"):
        raise ValueError("the stored rotation names no current token")
    return put(client, secret_id, str(document["current"]))


def new_callback_secret() -> str:
    """Standard Webhooks format: whsec_ + base64 of 32 random bytes."""
    return "whsec_" + base64.b64encode(random.token_bytes(32)).decode()
