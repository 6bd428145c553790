"""What each move does to its client's usage (pipeline.jobs.reservations): pure, so every rule is
stated here as a table of (job before, move) -> usage change and job fields."""

from __future__ import annotations

from typing import Any

import pytest

from pipeline.jobs import reservations
from pipeline.jobs.reservations import COUNTED, DAY, RESERVED, Ledger
from pipeline.models.job import Bookkeeping, Job, JobError, JobStatus
from pipeline.models.usage import OverBudget, UsageChange

TODAY = "2026-12-07"
YESTERDAY = "2026-12-06"
S = JobStatus


def job(status: JobStatus = S.SUBMITTING, **money: Any) -> Job:
    return Job(
        job_id="job_a",
        client_id="client-a",
        tool="face-swap",
        kind="video",
        status=status,
        created_at="2026-12-07T00:00:00.000Z",
        updated_at="2026-12-07T00:00:00.000Z",
        **money,
    )


def change(day: str = TODAY, **deltas: int) -> UsageChange:
    return UsageChange("client-a", day, **deltas)


MAGIC_HOUR_ERRORED = JobError(code="render_failed", message="x", source="magic_hour")
RESERVED_150 = {"reserved_credits": 150, "budget_day": TODAY}
CHARGED_150 = {"counted_credits": 150, "budget_day": TODAY}
CHARGE_UNKNOWN = {"counted_credits": 0, "reserved_credits": 150, "budget_day": TODAY}


def test_admission_reserves_the_estimate_bounded_by_what_is_left() -> None:
    assert reservations.admit("client-a", 150, 500, TODAY) == Ledger(
        sets={RESERVED: 150, DAY: TODAY}, usage=(change(reserved=150, within=350),)
    )
    # No budget: reserved all the same (the counters must add up), never bounded.
    assert reservations.admit("client-a", 150, None, TODAY).usage == (change(reserved=150),)
    # Exactly the budget fits.
    assert reservations.admit("client-a", 500, 500, TODAY).usage == (change(reserved=500, within=0),)


@pytest.mark.parametrize(("estimate", "budget"), [(501, 500), (1, 0)])
def test_an_estimate_beyond_the_whole_budget_is_refused_before_any_write(estimate: int, budget: int) -> None:
    with pytest.raises(OverBudget):
        reservations.admit("client-a", estimate, budget, TODAY)


SETTLE_CASES: list[tuple[str, Job, JobStatus, dict[str, Any], Ledger]] = [
    (
        "project recorded with its charge: the reservation becomes the charge",
        job(**RESERVED_150),
        S.QUEUED,
        {"credits": 120},
        Ledger(
            sets={COUNTED: 120, DAY: TODAY},
            removes=(RESERVED,),
            usage=(change(reserved=-150, charged=120, jobs=1),),
        ),
    ),
    (
        "project recorded, charge unknown: it counts as a job and stays reserved",
        job(**RESERVED_150),
        S.QUEUED,
        {},
        Ledger(sets={COUNTED: 0, DAY: TODAY}, usage=(change(jobs=1),)),
    ),
    (
        "adopted by its webhook while waiting: the same",
        job(S.WAITING, **RESERVED_150),
        S.QUEUED,
        {"credits": 150},
        Ledger(
            sets={COUNTED: 150, DAY: TODAY},
            removes=(RESERVED,),
            usage=(change(reserved=-150, charged=150, jobs=1),),
        ),
    ),
    (
        "a reservation made yesterday is settled yesterday",
        job(budget_day=YESTERDAY, reserved_credits=150),
        S.QUEUED,
        {"credits": 150},
        Ledger(
            sets={COUNTED: 150, DAY: YESTERDAY},
            removes=(RESERVED,),
            usage=(change(YESTERDAY, reserved=-150, charged=150, jobs=1),),
        ),
    ),
    (
        "a job from before reservations is charged today",
        job(),
        S.QUEUED,
        {"credits": 150},
        Ledger(sets={COUNTED: 150, DAY: TODAY}, removes=(RESERVED,), usage=(change(charged=150, jobs=1),)),
    ),
    (
        "refused by Magic Hour: released",
        job(**RESERVED_150),
        S.FAILED,
        {"error": JobError(code="upstream_rejected", message="x", source="submit")},
        Ledger(removes=(RESERVED,), usage=(change(reserved=-150),)),
    ),
    (
        "canceled while waiting: released",
        job(S.WAITING, **RESERVED_150),
        S.CANCELED,
        {},
        Ledger(removes=(RESERVED,), usage=(change(reserved=-150),)),
    ),
    ("back to waiting (nothing created): still reserved", job(**RESERVED_150), S.WAITING, {}, Ledger()),
    ("an unknown outcome stays submitting: still reserved", job(**RESERVED_150), S.SUBMITTING, {}, Ledger()),
    ("nothing reserved, nothing created: nothing", job(S.WAITING), S.FAILED, {}, Ledger()),
    (
        "Magic Hour failed the render: refunded",
        job(S.RENDERING, **CHARGED_150),
        S.FAILED,
        {"error": MAGIC_HOUR_ERRORED},
        Ledger(removes=(RESERVED, COUNTED), usage=(change(charged=-150, jobs=-1),)),
    ),
    (
        "Magic Hour failed a render whose charge was unknown: refunded, reservation released",
        job(S.QUEUED, **CHARGE_UNKNOWN),
        S.FAILED,
        {"error": MAGIC_HOUR_ERRORED},
        Ledger(removes=(RESERVED, COUNTED), usage=(change(reserved=-150, jobs=-1),)),
    ),
    *[
        (
            f"{code} while rendering: Magic Hour still charges it",
            job(S.RENDERING, **CHARGED_150),
            S.FAILED,
            {"error": JobError(code=code, message="x", source="magic_hour")},
            Ledger(),
        )
        for code in ("gave_up", "operator_failed", "project_not_found")
    ],
    (
        "a download failure: rendered and charged for good",
        job(S.DOWNLOADING, **CHARGED_150),
        S.FAILED,
        {"error": JobError(code="download_failed", message="x", source="download")},
        Ledger(),
    ),
    ("completed, charge known: nothing more", job(S.DOWNLOADING, **CHARGED_150), S.COMPLETED, {}, Ledger()),
    (
        "completed, the same charge said again: nothing more",
        job(S.DOWNLOADING, **CHARGED_150),
        S.COMPLETED,
        {"credits": 150},
        Ledger(),
    ),
    (
        "Magic Hour's later word on its charge counts from then on",
        job(S.RENDERING, **CHARGED_150),
        S.DOWNLOADING,
        {"credits": 180},
        Ledger(sets={COUNTED: 180}, removes=(RESERVED,), usage=(change(charged=30),)),
    ),
    (
        "the unknown charge learnt from a later event: reconciled",
        job(S.QUEUED, **CHARGE_UNKNOWN),
        S.RENDERING,
        {"credits": 90},
        Ledger(sets={COUNTED: 90}, removes=(RESERVED,), usage=(change(reserved=-150, charged=90),)),
    ),
    (
        "an unknown charge still unknown while rendering: kept",
        job(S.QUEUED, **CHARGE_UNKNOWN),
        S.RENDERING,
        {},
        Ledger(),
    ),
    (
        "ended with the charge never said: the estimate counts",
        job(S.DOWNLOADING, **CHARGE_UNKNOWN),
        S.COMPLETED,
        {},
        Ledger(sets={COUNTED: 150}, removes=(RESERVED,), usage=(change(reserved=-150, charged=150),)),
    ),
    (
        "gave up on it with the charge never said: the estimate counts",
        job(S.RENDERING, **CHARGE_UNKNOWN),
        S.FAILED,
        {"error": JobError(code="gave_up", message="x", source="magic_hour")},
        Ledger(sets={COUNTED: 150}, removes=(RESERVED,), usage=(change(reserved=-150, charged=150),)),
    ),
]


@pytest.mark.parametrize(
    ("before", "to", "news", "expected"),
    [case[1:] for case in SETTLE_CASES],
    ids=[c[0] for c in SETTLE_CASES],
)
def test_settle(before: Job, to: JobStatus, news: dict[str, Any], expected: Ledger) -> None:
    assert reservations.settle(before, to, TODAY, **news) == expected


@pytest.mark.parametrize(
    ("error", "refunded"),
    [
        (None, False),
        (MAGIC_HOUR_ERRORED, True),
        (JobError(code="gave_up", message="x", source="magic_hour"), False),
        (JobError(code="operator_failed", message="x", source="magic_hour"), False),
        (JobError(code="project_not_found", message="x", source="magic_hour"), False),
        (JobError(code="gave_up", message="x", source="submit"), False),
        (JobError(code="download_failed", message="x", source="download"), False),
    ],
)
def test_only_a_render_magic_hour_failed_is_refunded(error: JobError | None, refunded: bool) -> None:
    assert reservations.refunded(error) is refunded


def test_a_claim_on_the_day_of_the_reservation_rechecks_the_budget_as_it_is() -> None:
    waiting = job(S.WAITING, **RESERVED_150)
    assert reservations.claim(waiting, 400, TODAY, 150) == Ledger(usage=(change(within=400),))
    assert reservations.claim(waiting, None, TODAY, 150) == Ledger()


def test_a_claim_on_another_day_moves_the_reservation_to_the_day_of_the_create() -> None:
    waiting = job(S.WAITING, reserved_credits=150, budget_day=YESTERDAY)
    assert reservations.claim(waiting, 500, TODAY, 150) == Ledger(
        sets={DAY: TODAY},
        usage=(change(YESTERDAY, reserved=-150), change(reserved=150, within=350)),
    )
    assert reservations.claim(waiting, None, TODAY, 150).usage == (
        change(YESTERDAY, reserved=-150),
        change(reserved=150),
    )
    # Exactly what is left of the budget still fits; one credit less does not.
    assert reservations.claim(waiting, 150, TODAY, 150).usage[1] == change(reserved=150, within=0)
    with pytest.raises(OverBudget):
        reservations.claim(waiting, 149, TODAY, 150)


def test_a_job_from_before_reservations_reserves_when_claimed() -> None:
    assert reservations.claim(job(S.WAITING), 500, TODAY, 90) == reservations.admit(
        "client-a", 90, 500, TODAY
    )
    with pytest.raises(OverBudget):
        reservations.claim(job(S.WAITING), 80, TODAY, 90)


def test_a_late_project_counts_once_and_only_when_nothing_else_does() -> None:
    failed = job(S.FAILED, budget_day=TODAY)
    assert reservations.late_project(failed, 120, 150, TODAY) == Ledger(
        sets={COUNTED: 120, DAY: TODAY}, usage=(change(charged=120, jobs=1),)
    )
    # Its charge unknown: the estimate.
    assert reservations.late_project(failed, None, 150, TODAY).usage == (change(charged=150, jobs=1),)
    # Never reserved: counted today.
    assert reservations.late_project(job(S.FAILED), 5, 150, YESTERDAY).usage == (
        change(YESTERDAY, charged=5, jobs=1),
    )
    # The job's own charge still counts (the same project): nothing more.
    assert reservations.late_project(job(S.FAILED, **CHARGED_150), 150, 150, TODAY) == Ledger()


def test_release_gives_back_what_the_job_holds() -> None:
    assert reservations.release(job(**RESERVED_150), TODAY) == (change(reserved=-150),)
    # On the day it was reserved on.
    assert reservations.release(job(reserved_credits=150, budget_day=YESTERDAY), TODAY) == (
        change(YESTERDAY, reserved=-150),
    )
    assert reservations.release(job(), TODAY) == ()


def test_a_ledger_is_written_beside_the_bookkeeping_with_the_fields_it_was_computed_from() -> None:
    keeping = Bookkeeping(sets={"next_check_at": 5}, removes=("x",), release_slot=True)
    before = job(**CHARGE_UNKNOWN)
    ledger = reservations.settle(before, S.RENDERING, TODAY, credits=90)
    written = reservations.apply(keeping, before, ledger)
    assert written == Bookkeeping(
        sets={"next_check_at": 5, COUNTED: 90},
        removes=("x", RESERVED),
        release_slot=True,
        usage=ledger.usage,
        expects=((RESERVED, 150), (COUNTED, 0), (DAY, TODAY)),
    )
    assert reservations.apply(keeping, before, Ledger()) is keeping
