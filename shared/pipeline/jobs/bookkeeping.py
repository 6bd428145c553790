"""What a job's move owes the reconciliation sweep, the client's callback and the slot pool.

The job store writes what these functions return beside the new status, exactly as given; the
rules are here:
- a job the pipeline still works on is watched: the sweep looks at it once it has been quiet for
  `sweep_quiet_seconds`, and backs off afresh from there (its check count starts again);
- a job that ends with a callback URL owes its client one callback, and stays watched until that
  callback is settled (delivered or given up), so a callback lost on its way is queued again;
- a job that ends without one leaves the sweep's index: nothing about it can change any more;
- a job that leaves the statuses Magic Hour renders in gives back its slot in the same write.
"""

from __future__ import annotations

from typing import Any

from pipeline.models.job import SLOT_STATUSES, Bookkeeping, Job, JobStatus
from pipeline.platform.settings import get_settings
from pipeline.platform.timeutil import epoch_seconds

# The field that keeps a job in the sweep's index while it is set (the store indexes on it).
NEXT_CHECK_AT = "next_check_at"
_STOP_WATCHING = Bookkeeping(removes=(NEXT_CHECK_AT,))
CREATE_SENT_AT = "create_sent_at"


def first_check_at(now: int | None = None) -> int:
    """When the sweep first looks at a job that has just moved (or was just written)."""
    return (epoch_seconds() if now is None else now) + get_settings().sweep_quiet_seconds


def for_move(job: Job, to: JobStatus, now: int) -> Bookkeeping:
    """The fields a move of `job` to `to` writes beside its status."""
    release_slot = job.slot is not None and to not in SLOT_STATUSES
    owes_callback = to.is_terminal and bool(job.callback_url)
    if to.is_terminal and not owes_callback:
        return Bookkeeping(removes=_STOP_WATCHING.removes, release_slot=release_slot)
    sets: dict[str, Any] = {NEXT_CHECK_AT: first_check_at(now), "sweep_checks": 0}
    if to is JobStatus.SUBMITTING:
        # The create is sent right after this move: the sweep's grace for it starts now.
        sets[CREATE_SENT_AT] = now
    if owes_callback:
        # A job that ends again (a failed download redriven to success) owes a fresh callback.
        sets.update({"callback_state": "pending", "callback_attempts": 0, "callback_queued": False})
    return Bookkeeping(sets=sets, release_slot=release_slot)


def for_callback_attempt(outcome: str) -> Bookkeeping:
    """A settled callback (`delivered`, or `failed`: given up) leaves the sweep nothing to watch;
    one still `pending` keeps the job in its index."""
    return _STOP_WATCHING if outcome in ("delivered", "failed") else Bookkeeping()
