"""The usage store (pipeline.store.usage) and the job store's transactions with it, against the
local stack's moto server: a reservation bounded by one condition (also for simultaneous writers),
a job and its usage written together or not at all, budgets on the profile item."""

from __future__ import annotations

import threading
import uuid
from typing import Any

import pytest

from pipeline.models.job import Bookkeeping, Job, JobStatus
from pipeline.models.usage import OverBudget, UsageChange
from pipeline.platform.timeutil import epoch_seconds, now_iso
from pipeline.store import clients, usage
from pipeline.store import jobs as job_store

pytestmark = pytest.mark.usefixtures("pointed_at_moto")

DAY = "2026-12-01"


@pytest.fixture
def client_id() -> str:
    return f"client-{uuid.uuid4().hex[:8]}"


def _job(client_id: str, **money: Any) -> Job:
    now = now_iso()
    return Job(
        job_id=f"job_{uuid.uuid4().hex[:26]}",
        client_id=client_id,
        tool="text-to-video",
        kind="video",
        status=JobStatus.SUBMITTING,
        created_at=now,
        updated_at=now,
        **money,
    )


def _counts(client_id: str, day: str = DAY) -> tuple[int, int, int]:
    found = usage.usage_of(client_id, day)
    return found.credits_charged, found.jobs, found.committed


def test_an_unknown_day_has_zero_usage(client_id: str) -> None:
    assert usage.usage_of(client_id, DAY) == usage.Usage(day=DAY, credits_charged=0, jobs=0, committed=0)


def test_changes_add_up_per_client_and_day_and_committed_is_charged_plus_reserved(client_id: str) -> None:
    usage.apply((UsageChange(client_id, DAY, reserved=150),))
    usage.apply((UsageChange(client_id, DAY, reserved=-150, charged=120, jobs=1),))
    usage.apply((UsageChange(client_id, DAY, reserved=20),))
    usage.apply((UsageChange(client_id, "2026-12-02", charged=999, jobs=1),))
    usage.apply((UsageChange("someone-else", DAY, charged=999, jobs=1),))
    assert _counts(client_id) == (120, 1, 140)
    item = clients.get_item(client_id, clients.usage_item(DAY))
    assert item is not None
    assert int(item["reserved"]) == 20


def test_a_reservation_is_bounded_by_one_condition(client_id: str) -> None:
    usage.apply((UsageChange(client_id, DAY, reserved=150, within=350),))  # nothing yet: fits
    usage.apply((UsageChange(client_id, DAY, reserved=200, within=300),))  # 150 committed <= 300
    with pytest.raises(OverBudget):
        usage.apply((UsageChange(client_id, DAY, reserved=150, within=349),))  # 350 > 349
    assert _counts(client_id) == (0, 0, 350)
    usage.apply((UsageChange(client_id, DAY, reserved=0, within=350),))  # exactly at the bound


def test_simultaneous_reservations_never_admit_more_than_fits(client_id: str) -> None:
    """Budget 1000, 150 credits each: whatever the interleaving, exactly 6 of 40 fit."""
    admitted: list[bool] = []
    barrier = threading.Barrier(40)

    def reserve() -> None:
        barrier.wait()
        try:
            usage.apply((UsageChange(client_id, DAY, reserved=150, within=1000 - 150),))
        except OverBudget:
            admitted.append(False)
        else:
            admitted.append(True)

    threads = [threading.Thread(target=reserve) for _ in range(40)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert admitted.count(True) == 6
    assert _counts(client_id) == (0, 0, 900)


def test_a_job_and_its_reservation_are_written_together_or_not_at_all(client_id: str) -> None:
    job = _job(client_id, reserved_credits=150, budget_day=DAY)
    reserve = (UsageChange(client_id, DAY, reserved=150, within=50),)  # a budget of 200
    assert job_store.put_new_job(job, None, reserve) is True
    assert _counts(client_id) == (0, 0, 150)
    # The same job again: no second job and no second reservation.
    assert job_store.put_new_job(job, None, reserve) is False
    assert _counts(client_id) == (0, 0, 150)
    # Another that does not fit: no job.
    other = _job(client_id, reserved_credits=150, budget_day=DAY)
    with pytest.raises(OverBudget):
        job_store.put_new_job(other, None, reserve)
    assert job_store.get_job(other.job_id) is None
    assert _counts(client_id) == (0, 0, 150)


def test_a_move_and_its_usage_are_one_transaction(client_id: str) -> None:
    job = _job(client_id, reserved_credits=150, budget_day=DAY)
    assert job_store.put_new_job(job, None, (UsageChange(client_id, DAY, reserved=150),))
    keeping = Bookkeeping(
        sets={"counted_credits": 120},
        removes=("reserved_credits",),
        usage=(UsageChange(client_id, DAY, reserved=-150, charged=120, jobs=1),),
        expects=(("reserved_credits", 150), ("counted_credits", None), ("budget_day", DAY)),
    )
    moved = job_store.attach_project(job, "proj_1", 120, keeping)
    assert moved is not None
    assert (moved.status, moved.counted_credits, moved.reserved_credits) == (JobStatus.QUEUED, 120, None)
    assert _counts(client_id) == (120, 1, 120)
    # A second attach (a duplicate webhook, a racing submit): neither the job nor usage change.
    assert job_store.attach_project(job, "proj_1", 120, keeping) is None
    assert _counts(client_id) == (120, 1, 120)


def test_a_move_computed_from_stale_money_fields_writes_nothing(client_id: str) -> None:
    job = _job(client_id, reserved_credits=150, budget_day=DAY)
    assert job_store.put_new_job(job, None, (UsageChange(client_id, DAY, reserved=150),))
    stale = Bookkeeping(
        usage=(UsageChange(client_id, DAY, reserved=-150),),
        expects=(("reserved_credits", 99), ("counted_credits", None), ("budget_day", DAY)),
    )
    assert job_store.transition(job, JobStatus.WAITING, [JobStatus.SUBMITTING], stale) is None
    assert _counts(client_id) == (0, 0, 150)
    assert job_store.get_job(job.job_id).status is JobStatus.SUBMITTING  # type: ignore[union-attr]


def test_a_move_whose_reservation_does_not_fit_writes_nothing(client_id: str) -> None:
    job = _job(client_id, reserved_credits=150, budget_day=DAY)
    job = job.model_copy(update={"status": JobStatus.WAITING, "fair_key": "0001#x"})
    assert job_store.put_new_job(job, None, (UsageChange(client_id, DAY, reserved=150),))
    recheck = Bookkeeping(
        usage=(UsageChange(client_id, DAY, within=100),), expects=(("reserved_credits", 150),)
    )
    with pytest.raises(OverBudget):
        job_store.transition(job, JobStatus.SUBMITTING, [JobStatus.WAITING], recheck)
    assert job_store.get_job(job.job_id).status is JobStatus.WAITING  # type: ignore[union-attr]


def test_usage_items_expire_after_about_400_days(client_id: str) -> None:
    usage.apply((UsageChange(client_id, DAY, charged=150, jobs=1),))
    expected = epoch_seconds() + 400 * 86400
    found: dict[str, Any] | None = clients.get_item(client_id, clients.usage_item(DAY))
    assert found is not None
    assert abs(int(found["expires_at_epoch"]) - expected) < 60


def test_a_budget_is_set_changed_and_removed_on_the_profile(client_id: str) -> None:
    assert usage.budget_of(client_id) is None
    usage.set_budget(client_id, 500)
    assert usage.budget_of(client_id) == 500
    usage.set_budget(client_id, 0)
    assert usage.budget_of(client_id) == 0
    usage.set_budget(client_id, None)
    assert usage.budget_of(client_id) is None
    assert clients.get_item(client_id, clients.PROFILE) is not None  # the profile item itself stays


def test_setting_a_budget_keeps_the_rest_of_the_profile(client_id: str) -> None:
    clients.table().put_item(Item={"client_id": client_id, "item": clients.PROFILE, "secret_version": 3})
    usage.set_budget(client_id, 500)
    assert clients.get_profile(client_id)["secret_version"] == 3


@pytest.mark.parametrize("bad", [-1, 1.5, True, "500"])
def test_a_budget_is_a_whole_number_of_credits(client_id: str, bad: Any) -> None:
    with pytest.raises(ValueError, match="whole number"):
        usage.set_budget(client_id, bad)
    assert usage.budget_of(client_id) is None
