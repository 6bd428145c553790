"""`ops account`: the Magic Hour account's credit balance and tier, and the concurrency limit
`MagicHourMaxConcurrency=auto` takes from that tier (the figures the sweep publishes and logs)."""

from __future__ import annotations

import os
from typing import Any

from ops import secrets, targets
from pipeline.magic_hour.account import TIER_CONCURRENCY, limit_for_tier
from pipeline.magic_hour.client import MagicHourClient

DEPLOYED_BASE_URL = "https://api.magichour.ai"


def base_url(explicit: str | None, local: bool) -> str:
    """--magic-hour-url, else MAGIC_HOUR_BASE_URL, else the local simulator or Magic Hour itself."""
    if explicit:
        return explicit
    if os.environ.get("MAGIC_HOUR_BASE_URL"):
        return os.environ["MAGIC_HOUR_BASE_URL"]
    if local:
        return f"http://127.0.0.1:{os.environ.get('LOCAL_MAGIC_HOUR_PORT', '4010')}"
    return DEPLOYED_BASE_URL


def show(session: targets.Session, where: targets.Targets, url: str) -> dict[str, Any]:
    secret_id = where.need("magic_hour_api_key_secret")
    key = secrets.current(session.client("secretsmanager"), secret_id)
    if not key or not key.strip():
        raise LookupError(f"the Magic Hour API key secret {secret_id} is empty or missing")
    # The stack's own key, read for this one request and never printed.
    client = MagicHourClient(url, lambda: key.strip(), timeout=(5.0, 20.0))
    account = client.get_account()
    limit = limit_for_tier(account.tier)
    return {
        "credits": account.credits,
        "tier": account.tier,
        # What MagicHourMaxConcurrency=auto would hold the deployment to (0: no cap of ours).
        "auto_concurrency_limit": limit,
        "tier_known": account.tier in TIER_CONCURRENCY,
        "magic_hour_url": url,
    }
