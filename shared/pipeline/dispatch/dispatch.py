"""The dispatcher: creates `waiting` jobs at Magic Hour as slots free, fairest first.

Woken through the dispatch queue whenever a job starts waiting, a slot is given back, or a retry
delay ends (and by every sweep while jobs wait). Any number may run at once: a job is taken with
a conditional write (and its slot in the same transaction), so two dispatchers never create the
same job and never hold more slots than the limit.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from pipeline.create import claims, creation, learned_limit
from pipeline.jobs import moves
from pipeline.magic_hour import account
from pipeline.magic_hour.client import MagicHourClient
from pipeline.models.job import JobStatus
from pipeline.platform.time_budget import TimeBudget
from pipeline.platform.timeutil import epoch_seconds
from pipeline.store import fair_queue, slots

MAX_CREATES_PER_RUN = 50


@dataclass
class DispatchReport:
    jobs_created: int = 0
    outcomes: dict[str, int] = field(default_factory=dict)

    def count(self, outcome: str) -> None:
        self.outcomes[outcome] = self.outcomes.get(outcome, 0) + 1


def run(magic_hour: MagicHourClient, budget: TimeBudget) -> DispatchReport:
    """Create jobs from the head of the fair queue while a create (a whole Magic Hour call) still
    fits in `budget`, a slot is free and a job is due."""
    report = DispatchReport()
    limit = account.concurrency_limit(magic_hour)
    while report.jobs_created < MAX_CREATES_PER_RUN:
        if not budget.fits_magic_hour_step():
            moves.wake_dispatcher()  # a fresh invocation carries on
            report.count("out_of_time")
            break
        now = epoch_seconds()
        hold_until, _ = fair_queue.hold()
        if hold_until > now:
            moves.wake_dispatcher(hold_until - now)
            report.count("on_hold")
            break
        job = claims.next_due_job(limit)
        if job is None:
            break
        if claims.past_deadline(job, epoch_seconds()):
            creation.fail_past_deadline(
                job, job.last_create_error or creation.UNAVAILABLE, job.create_attempts, [JobStatus.WAITING]
            )
            report.count("past_deadline")
            continue
        # Without a limit of ours the slot only counts (learned_limit.py): the open pool never
        # makes a job wait, Magic Hour's 429 does.
        slot = slots.free_slot(learned_limit.pool(limit), spread=not limit)
        if slot is None and limit:
            report.count("no_slot")
            break  # the next slot given back wakes a dispatcher
        claimed = claims.claim(job, slot)
        if claimed is None:
            report.count("raced")
            continue
        if claimed.status is JobStatus.FAILED:
            report.count("budget_exceeded")
            continue
        fair_queue.note_dispatched(fair_queue.round_of(job.fair_key))
        result = creation.create(claimed, magic_hour, inline=False)
        report.jobs_created += 1
        report.count(result.status.value)
        if result.status is JobStatus.WAITING:
            break  # Magic Hour has no room: the pause it set decides when to look again
    return report
