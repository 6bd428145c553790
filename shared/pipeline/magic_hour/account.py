"""The Magic Hour account, watched: its credit balance as a metric, and the plan's concurrency
limit when `MagicHourMaxConcurrency` is `auto`.

Both come from `GET /v1/account` (`credits`, `tier`). Each execution environment keeps what it
read in memory: the balance is published at most once a minute (the sweep calls `publish_balance`
every period), and the limit is re-read at most once an hour (a plan changes by hand, rarely), or
a minute after a failed read. A read that fails never stops the work that asked: the last limit
read (else FALLBACK_LIMIT) stands in.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

from pipeline.magic_hour.client import Account, MagicHourClient
from pipeline.magic_hour.errors import MagicHourError
from pipeline.platform.observability import MAGIC_HOUR_CREDITS, emit, logger
from pipeline.platform.settings import get_settings

# Concurrent renders per tier, from Magic Hour's docs ("3 (Creator), 5 (Pro), unlimited
# (Business)"); 0 = no cap of ours. Free is not documented: 1, the least that still works.
TIER_CONCURRENCY: dict[str, int] = {"free": 1, "creator": 3, "pro": 5, "business": 0}
# A tier this table does not know yet, or an account never read: the smallest paid plan's limit.
# Too low only makes jobs wait; too high would only earn 429s that also make them wait.
FALLBACK_LIMIT = 3
LIMIT_TTL_SECONDS = 3600
FAILED_READ_RETRY_SECONDS = 60
BALANCE_MIN_INTERVAL_SECONDS = 60


@dataclass
class _Known:
    limit: int | None = None
    tier: str | None = None
    limit_read_at: float | None = None  # monotonic seconds
    retry_at: float = 0.0
    balance_published_at: float | None = None


_known = _Known()


def limit_for_tier(tier: str) -> int:
    return TIER_CONCURRENCY.get(tier, FALLBACK_LIMIT)


def concurrency_limit(magic_hour: MagicHourClient | None = None, now: float | None = None) -> int:
    """The most projects this deployment may keep queued or rendering at once (0: no cap)."""
    setting = get_settings().magic_hour_max_concurrency
    if setting != "auto":
        return setting
    moment = time.monotonic() if now is None else now
    fresh = _known.limit_read_at is not None and moment - _known.limit_read_at < LIMIT_TTL_SECONDS
    if _known.limit is not None and (fresh or moment < _known.retry_at):
        return _known.limit
    if moment < _known.retry_at:
        return FALLBACK_LIMIT
    account = _read(magic_hour, moment)
    if account is None:
        return _known.limit if _known.limit is not None else FALLBACK_LIMIT
    return _remember(account, moment)


def publish_balance(magic_hour: MagicHourClient, now: float | None = None) -> Account | None:
    """Publishes MagicHourCredits (at most once a minute); the account read, or None."""
    moment = time.monotonic() if now is None else now
    last = _known.balance_published_at
    if last is not None and moment - last < BALANCE_MIN_INTERVAL_SECONDS:
        return None
    account = _read(magic_hour, moment)
    if account is None:
        return None
    _known.balance_published_at = moment
    emit(MAGIC_HOUR_CREDITS, account.credits, tier=account.tier)
    logger.info("Magic Hour account", extra={"credits": account.credits, "tier": account.tier})
    if get_settings().magic_hour_max_concurrency == "auto":
        _remember(account, moment)  # the same read refreshes the limit
    return account


def _read(magic_hour: MagicHourClient | None, moment: float) -> Account | None:
    from pipeline.magic_hour.client import client_from_settings

    try:
        return (magic_hour or client_from_settings()).get_account()
    except MagicHourError as failure:
        _known.retry_at = moment + FAILED_READ_RETRY_SECONDS
        logger.warning(
            "Magic Hour account could not be read",
            extra={"error": failure.message, "status": failure.status_code},
        )
        return None


def _remember(account: Account, moment: float) -> int:
    limit = limit_for_tier(account.tier)
    if (limit, account.tier) != (_known.limit, _known.tier):
        # The figure in the logs: what the dispatcher and submit now hold the deployment to.
        logger.info(
            "Magic Hour concurrency limit from the plan",
            extra={"tier": account.tier, "limit": limit, "known_tier": account.tier in TIER_CONCURRENCY},
        )
    _known.limit, _known.tier, _known.limit_read_at = limit, account.tier, moment
    return limit


def forget() -> None:
    """Drop what was read (tests, and ops re-binding the pipeline to another stack)."""
    global _known
    _known = _Known()
