"""Budgets as bounds: what each job move does to its client's usage of the day.

A job reserves its estimated cost (magic_hour/rates.py) when it is admitted, with one conditional
write on the client's day item: the day's committed credits (charged plus reserved) plus the
estimate must fit in the budget, so any number of simultaneous creates cannot admit more than fits.
From then on every move that changes what the job costs carries its usage change in the same
transaction as the move (store/jobs.py), so a crash between two writes can neither lose a charge nor
keep a refund:
- the project recorded: the reservation becomes Magic Hour's charge (its `credits_charged`), or
  stays reserved while Magic Hour has not said (a later event or the sweep's read of the project
  tells, and a job that ends before that counts its estimate);
- nothing created (refused, past its deadline, canceled while waiting, given up before a project,
  the create never confirmed): the reservation is released;
- Magic Hour failed the render: it refunds it, and so does the usage; an ending Magic Hour still
  charges (the sweep gave up, an operator failed it, the download failed) keeps counting;
- a waiting job is checked again when its slot comes (the budget may have been lowered), and a
  reservation made on another UTC day moves to the day its create is sent.
Pure: the job store writes what these functions return, exactly as given.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from pipeline.models.job import Bookkeeping, Job, JobError, JobStatus
from pipeline.models.usage import OverBudget, UsageChange

RESERVED = "reserved_credits"
DAY = "budget_day"
COUNTED = "counted_credits"
# Failures of our own making, with `source: magic_hour` but no render Magic Hour failed: it does
# not refund them (the project exists and rendered, or may have).
NOT_REFUNDED = frozenset({"gave_up", "operator_failed", "project_not_found"})


@dataclass(frozen=True)
class Ledger:
    sets: dict[str, Any] = field(default_factory=dict)
    removes: tuple[str, ...] = ()
    usage: tuple[UsageChange, ...] = ()


NOTHING = Ledger()


def admit(client_id: str, estimate: int, budget: int | None, day: str) -> Ledger:
    """A new job's reservation. Raises OverBudget when the estimate alone exceeds the budget."""
    within = None if budget is None else budget - estimate
    if within is not None and within < 0:
        raise OverBudget()
    return Ledger(
        sets={RESERVED: estimate, DAY: day},
        usage=(UsageChange(client_id, day, reserved=estimate, within=within),),
    )


def claim(job: Job, budget: int | None, today: str, estimate: int) -> Ledger:
    """A waiting job taken for its create: its reservation checked against the budget as it is
    now, on the day the create is sent. Raises OverBudget when it cannot fit at all."""
    held = job.reserved_credits
    if held is None:  # written before reservations: it reserves now
        return admit(job.client_id, estimate, budget, today)
    if job.budget_day == today:
        # Its own reservation is already in the day's counters: they must still fit the budget.
        if budget is None:
            return NOTHING
        return Ledger(usage=(UsageChange(job.client_id, today, within=budget),))
    within = None if budget is None else budget - held
    if within is not None and within < 0:
        raise OverBudget()
    return Ledger(
        sets={DAY: today},
        usage=(
            UsageChange(job.client_id, job.budget_day or today, reserved=-held),
            UsageChange(job.client_id, today, reserved=held, within=within),
        ),
    )


def refunded(error: JobError | None) -> bool:
    """Whether Magic Hour refunds a job failed with `error`: only a render it failed itself."""
    return error is not None and error.source == "magic_hour" and error.code not in NOT_REFUNDED


def settle(
    job: Job, to: JobStatus, today: str, *, error: JobError | None = None, credits: int | None = None
) -> Ledger:
    """What a move of `job` to `to` does to its usage; `credits` is Magic Hour's `credits_charged`
    when the news that moves it carries one."""
    held = job.reserved_credits or 0
    counted = job.counted_credits
    day = job.budget_day or today

    def change(reserved: int = 0, charged: int = 0, jobs: int = 0) -> UsageChange:
        return UsageChange(job.client_id, day, reserved=reserved, charged=charged, jobs=jobs)

    if counted is None:  # no project recorded yet
        if to is JobStatus.QUEUED:  # it is now: Magic Hour created it
            if credits is None:  # charged, for an amount not yet known: the estimate stays reserved
                return Ledger(sets={COUNTED: 0, DAY: day}, usage=(change(jobs=1),))
            return Ledger(
                sets={COUNTED: credits, DAY: day},
                removes=(RESERVED,),
                usage=(change(reserved=-held, charged=credits, jobs=1),),
            )
        if to.is_terminal and held:  # ended before any project: nothing was charged
            return Ledger(removes=(RESERVED,), usage=(change(reserved=-held),))
        return NOTHING
    if to is JobStatus.FAILED and refunded(error):
        return Ledger(removes=(RESERVED, COUNTED), usage=(change(reserved=-held, charged=-counted, jobs=-1),))
    if credits is not None and (held or credits != counted):
        # Magic Hour's latest word on what it charged counts from now on.
        return Ledger(
            sets={COUNTED: credits},
            removes=(RESERVED,),
            usage=(change(reserved=-held, charged=credits - counted),),
        )
    if held and to.is_terminal:
        # Ended without Magic Hour ever saying what it charged: the estimate is the best we know.
        return Ledger(
            sets={COUNTED: counted + held}, removes=(RESERVED,), usage=(change(reserved=-held, charged=held),)
        )
    return NOTHING


def late_project(job: Job, credits: int | None, estimate: int, today: str) -> Ledger:
    """A project Magic Hour completed for a job that had already failed: charged. It counts unless
    the job's own charge still counts (the same project, never refunded)."""
    if job.counted_credits is not None:
        return NOTHING
    charged = estimate if credits is None else credits
    day = job.budget_day or today
    return Ledger(
        sets={COUNTED: charged, DAY: day}, usage=(UsageChange(job.client_id, day, charged=charged, jobs=1),)
    )


def release(job: Job, today: str) -> tuple[UsageChange, ...]:
    """A job removed before anything was created: its reservation goes."""
    held = job.reserved_credits or 0
    return (UsageChange(job.client_id, job.budget_day or today, reserved=-held),) if held else ()


def expects(job: Job) -> tuple[tuple[str, Any], ...]:
    """The money fields a ledger was computed from: the write must find them unchanged."""
    return ((RESERVED, job.reserved_credits), (COUNTED, job.counted_credits), (DAY, job.budget_day))


def apply(keeping: Bookkeeping, job: Job, ledger: Ledger) -> Bookkeeping:
    """`keeping` with `ledger` written beside it."""
    if ledger == NOTHING:
        return keeping
    return Bookkeeping(
        sets={**keeping.sets, **ledger.sets},
        removes=(*keeping.removes, *ledger.removes),
        release_slot=keeping.release_slot,
        usage=(*keeping.usage, *ledger.usage),
        expects=expects(job),
    )
