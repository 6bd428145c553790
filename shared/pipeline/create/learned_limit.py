"""The limit Magic Hour's 429s show, for the cap on what one client holds while others wait, when
the deployment has no limit of its own (`MagicHourMaxConcurrency` 0, or `auto` on an unlimited
tier).

Without a limit of ours every job still takes a slot, from a pool no deployment fills
(`OPEN_POOL`), in the same writes as with one: the slot holders are then exactly our projects
Magic Hour may be rendering, per client, given back as each render ends. Magic Hour's 429 stays
the admission; the slots only count. The rule:

- a create Magic Hour answers 429 sets the learned limit to the slots held right then (its own
  slot given back): that many renders filled the plan;
- a create that goes through with more slots held raises it to that many, so the learned limit is
  never below what is rendering (a plan upgraded, or other projects of the account that ended);
- while other clients wait, one client holds at most ceil(learned limit / clients waiting).

Best effort: both only shape the cap; a failed write leaves the last figure, never a job stuck.
"""

from __future__ import annotations

from pipeline.magic_hour import account
from pipeline.platform.observability import logger
from pipeline.store import fair_queue, slots

# Slots a job takes when no limit of ours caps them: more than Magic Hour's largest published
# concurrency, so the pool never makes a job wait (a job finding it full goes without a slot).
OPEN_POOL = 1000


def pool(limit: int) -> int:
    """How many slots there are: our limit, or the open pool without one."""
    return limit or OPEN_POOL


def cap_limit(limit: int) -> int:
    """The limit the per-client cap counts against: ours, else the one Magic Hour's 429s showed."""
    return limit or fair_queue.learned_limit()


def after_rate_limited() -> None:
    """Magic Hour answered a create 429: what is rendering now is its limit."""
    if account.concurrency_limit():
        return
    try:
        fair_queue.learn_limit(len(slots.holders()))
    except Exception:
        logger.exception("could not note the limit Magic Hour's 429 showed")


def after_created(slot: int | None) -> None:
    """A create of a job holding `slot` went through: the limit is at least what renders now."""
    if slot is None or account.concurrency_limit():
        return
    try:
        fair_queue.raise_learned_limit(len(slots.holders()))
    except Exception:
        logger.exception("could not raise the limit learned from Magic Hour's 429s")
