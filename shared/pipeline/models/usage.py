"""A change to a client's usage of one UTC day, written in the same transaction as the job move
that causes it (jobs/reservations.py decides it, store/usage.py writes it)."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class UsageChange:
    client_id: str
    day: str
    # Deltas of the day's counters: credits reserved by jobs admitted and not yet settled, credits
    # Magic Hour charged, and jobs charged.
    reserved: int = 0
    charged: int = 0
    jobs: int = 0
    # A reservation's bound: the write happens only while the day's committed credits (charged plus
    # reserved) are at most this many before it (the budget less this job's estimate). None: no bound.
    within: int | None = None


class OverBudget(Exception):
    """A job's estimate does not fit in what is left of its client's daily budget: nothing of the
    write that would have reserved it was made."""
