"""The usage store (pipeline.store.usage) against the local stack's moto server: charges counted
once per job, refunds reversing exactly what was charged, budgets on the profile item."""

from __future__ import annotations

import threading
import uuid
from typing import Any

import pytest

from pipeline.platform.timeutil import epoch_seconds
from pipeline.store import clients, usage

pytestmark = pytest.mark.usefixtures("pointed_at_moto")

DAY = "2026-12-01"


@pytest.fixture
def client_id() -> str:
    return f"client-{uuid.uuid4().hex[:8]}"


def _job() -> str:
    return f"job_{uuid.uuid4().hex[:26]}"


def _counts(client_id: str, day: str = DAY) -> tuple[int, int]:
    found = usage.usage_of(client_id, day)
    return found.credits_charged, found.jobs


def test_an_unknown_day_has_zero_usage(client_id: str) -> None:
    assert usage.usage_of(client_id, DAY) == usage.Usage(day=DAY, credits_charged=0, jobs=0)


def test_charges_add_up_per_client_and_day(client_id: str) -> None:
    assert usage.record_charge(client_id, _job(), 150, DAY) is True
    assert usage.record_charge(client_id, _job(), 20, DAY) is True
    usage.record_charge(client_id, _job(), 999, "2026-12-02")
    usage.record_charge("someone-else", _job(), 999, DAY)
    assert _counts(client_id) == (170, 2)
    assert _counts(client_id, "2026-12-02") == (999, 1)


def test_a_repeated_charge_of_a_job_counts_once(client_id: str) -> None:
    job_id = _job()
    assert usage.record_charge(client_id, job_id, 150, DAY) is True
    assert usage.record_charge(client_id, job_id, 150, DAY) is False
    assert usage.record_charge(client_id, job_id, 300, "2026-12-02") is False
    assert _counts(client_id) == (150, 1)
    assert _counts(client_id, "2026-12-02") == (0, 0)


def test_concurrent_charges_of_one_job_count_once(client_id: str) -> None:
    job_id = _job()
    results: list[bool] = []
    barrier = threading.Barrier(8)

    def charge() -> None:
        barrier.wait()
        results.append(usage.record_charge(client_id, job_id, 40, DAY))

    threads = [threading.Thread(target=charge) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(results) == [False] * 7 + [True]
    assert _counts(client_id) == (40, 1)


def test_a_refund_reverses_exactly_its_charge_on_the_day_it_was_counted(client_id: str) -> None:
    refunded, kept = _job(), _job()
    usage.record_charge(client_id, refunded, 150, "2026-11-30")
    usage.record_charge(client_id, kept, 20, "2026-11-30")
    usage.record_charge(client_id, _job(), 5, DAY)
    assert usage.record_refund(client_id, refunded) is True
    assert _counts(client_id, "2026-11-30") == (20, 1)
    assert _counts(client_id) == (5, 1)


def test_a_repeated_or_concurrent_refund_reverses_once(client_id: str) -> None:
    job_id = _job()
    usage.record_charge(client_id, job_id, 150, DAY)
    usage.record_charge(client_id, _job(), 20, DAY)
    results: list[bool] = []
    barrier = threading.Barrier(6)

    def refund() -> None:
        barrier.wait()
        results.append(usage.record_refund(client_id, job_id))

    threads = [threading.Thread(target=refund) for _ in range(6)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(results) == [False] * 5 + [True]
    assert usage.record_refund(client_id, job_id) is False
    assert _counts(client_id) == (20, 1)


def test_a_refund_before_the_charge_keeps_the_late_charge_from_counting(client_id: str) -> None:
    job_id = _job()
    assert usage.record_refund(client_id, job_id) is False
    assert usage.record_charge(client_id, job_id, 150, DAY) is False
    assert _counts(client_id) == (0, 0)


def test_a_refunded_job_is_never_charged_again(client_id: str) -> None:
    job_id = _job()
    usage.record_charge(client_id, job_id, 150, DAY)
    usage.record_refund(client_id, job_id)
    assert usage.record_charge(client_id, job_id, 150, DAY) is False
    assert _counts(client_id) == (0, 0)


def test_usage_items_and_markers_expire_after_about_400_days(client_id: str) -> None:
    job_id = _job()
    usage.record_charge(client_id, job_id, 150, DAY)
    expected = epoch_seconds() + 400 * 86400
    for item in (clients.usage_item(DAY), usage.charge_item(job_id)):
        found: dict[str, Any] | None = clients.get_item(client_id, item)
        assert found is not None
        assert abs(int(found["expires_at_epoch"]) - expected) < 60, item
    marker = clients.get_item(client_id, usage.charge_item(job_id))
    assert marker is not None
    assert (int(marker["credits"]), marker["day"]) == (150, DAY)


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
