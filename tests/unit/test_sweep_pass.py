"""What one sweep pass does (sweep/sweep.run) on the in-memory store: every due job is checked,
one job's failure never stops the others, stale Magic Hour slots are reclaimed, and waiting jobs
always get a dispatcher wake-up. (tests/unit/test_sweep_run.py: its time budget and lease.)"""

from __future__ import annotations

from typing import Any

import pytest
from test_state_machine import JOB_ID, PROJECT, SETTINGS, make_job, project

from pipeline.create import claims, creation
from pipeline.jobs import transitions
from pipeline.magic_hour.errors import MagicHourUnavailable
from pipeline.models.job import Job, JobStatus
from pipeline.platform import ids
from pipeline.platform.timeutil import epoch_seconds
from pipeline.store import jobs as job_store
from pipeline.store import slots
from pipeline.store.due_checks import DueCheck
from pipeline.sweep import sweep, sweep_batch
from tests.fakes import FakeMagicHour, Fakes, install, serve_due_index

OTHER_ID = ids.job_id_for_idempotency_key("client-b", "sweep-run")


class Slots:
    def __init__(self, holders: dict[int, str], reclaimable: bool = True) -> None:
        self.held = dict(holders)
        self.reclaimable = reclaimable
        self.reclaimed: list[tuple[int, str]] = []

    def holders(self) -> dict[int, str]:
        return dict(self.held)

    def reclaim(self, index: int, job_id: str) -> bool:
        if not self.reclaimable:
            return False
        self.reclaimed.append((index, job_id))
        del self.held[index]
        return True


@pytest.fixture
def fakes(monkeypatch: pytest.MonkeyPatch) -> Fakes:
    for module in (transitions, sweep, sweep_batch, claims, creation):
        monkeypatch.setattr(module, "get_settings", lambda: SETTINGS)
    installed = install(monkeypatch)
    monkeypatch.setattr(job_store, "waiting_jobs", lambda limit: [])
    monkeypatch.setattr(sweep.sweep_lease, "leases", FreeLease())
    return installed


class FreeLease:
    """No other sweep runs (test_sweep_run.py covers the lease)."""

    def acquire(self, name: str, holder: str, seconds: int) -> bool:
        return True

    def release(self, name: str, holder: str) -> None:
        pass


def due(monkeypatch: pytest.MonkeyPatch, fakes: Fakes, *jobs: Job) -> list[tuple[int | None, int, int]]:
    """Make `jobs` the ones due; returns the (after, now, limit) the sweep read them with."""
    asked: list[tuple[int | None, int, int]] = []
    for job in jobs:
        fakes.store.put(job)

    def due_checks(after: int | None, now: int, limit: int) -> list[DueCheck]:
        asked.append((after, now, limit))
        listed = jobs if after is None else ()
        return [DueCheck(job.job_id, job.client_id, job.status.value, now) for job in listed][:limit]

    serve_due_index(monkeypatch, due_checks)
    return asked


def install_slots(monkeypatch: pytest.MonkeyPatch, held: Slots) -> Slots:
    monkeypatch.setattr(slots, "holders", held.holders)
    monkeypatch.setattr(slots, "reclaim", held.reclaim)
    return held


def test_every_due_job_is_checked_and_counted(fakes: Fakes, monkeypatch: pytest.MonkeyPatch) -> None:
    install_slots(monkeypatch, Slots({}))
    now = epoch_seconds()
    asked = due(
        monkeypatch,
        fakes,
        make_job(JobStatus.QUEUED),
        make_job(JobStatus.RENDERING, job_id=OTHER_ID, project_id="proj_other", magic_hour_name=None),
    )
    report = sweep.run(now, FakeMagicHour(project("complete")))  # type: ignore[arg-type]
    assert asked[0][:2] == (None, now)  # everything due, read from the index's start
    assert report.checked == 2
    assert report.outcomes == {"recovered_completed": 2}


def test_magic_hour_down_postpones_the_job_and_the_sweep_goes_on(
    fakes: Fakes, monkeypatch: pytest.MonkeyPatch
) -> None:
    install_slots(monkeypatch, Slots({}))
    now = epoch_seconds()
    due(monkeypatch, fakes, make_job(JobStatus.QUEUED, sweep_checks=2))
    report = sweep.run(now, FakeMagicHour(MagicHourUnavailable("503", 503)))  # type: ignore[arg-type]
    assert report.checked == 1
    assert report.outcomes == {"magic_hour_unavailable": 1}
    assert fakes.store.postponed[JOB_ID] == (now + 240, 3)
    assert fakes.store.writes == []


def test_a_job_that_breaks_the_check_is_postponed_and_the_others_are_checked(
    fakes: Fakes, monkeypatch: pytest.MonkeyPatch
) -> None:
    install_slots(monkeypatch, Slots({}))
    now = epoch_seconds()
    due(
        monkeypatch,
        fakes,
        make_job(JobStatus.QUEUED),
        make_job(JobStatus.QUEUED, job_id=OTHER_ID, project_id="proj_other", magic_hour_name=None),
    )

    class Broken(FakeMagicHour):
        def get_project(self, kind: str, project_id: str) -> dict[str, Any]:
            if project_id == PROJECT:
                raise KeyError("a bug")
            return super().get_project(kind, project_id)

    report = sweep.run(now, Broken(project("canceled")))  # type: ignore[arg-type]
    assert report.outcomes == {"error": 1, "recovered_canceled": 1}
    assert fakes.store.postponed[JOB_ID] == (now + 60, 1)
    other = fakes.store.get_job(OTHER_ID)
    assert other is not None
    assert other.status is JobStatus.CANCELED


def test_slots_whose_holder_no_longer_holds_them_are_reclaimed(
    fakes: Fakes, monkeypatch: pytest.MonkeyPatch
) -> None:
    vanished = ids.job_id_for_idempotency_key("client-c", "gone")
    ended = ids.job_id_for_idempotency_key("client-c", "ended")
    moved = ids.job_id_for_idempotency_key("client-c", "moved")
    fakes.store.put(make_job(JobStatus.QUEUED, slot=0))  # holds slot 0: kept
    fakes.store.put(make_job(JobStatus.COMPLETED, job_id=ended, slot=2))
    fakes.store.put(make_job(JobStatus.RENDERING, job_id=moved, slot=4))  # holds 4, not 3
    held = install_slots(monkeypatch, Slots({0: JOB_ID, 1: vanished, 2: ended, 3: moved}))
    due(monkeypatch, fakes)
    report = sweep.run(epoch_seconds(), FakeMagicHour(project("queued")))  # type: ignore[arg-type]
    assert held.reclaimed == [(1, vanished), (2, ended), (3, moved)]
    assert held.held == {0: JOB_ID}
    assert report.outcomes == {"slots_reclaimed": 3}
    assert fakes.queues.wakeups == [0]


def test_a_slot_reclaimed_by_someone_else_meanwhile_is_not_counted(
    fakes: Fakes, monkeypatch: pytest.MonkeyPatch
) -> None:
    install_slots(monkeypatch, Slots({1: OTHER_ID}, reclaimable=False))
    due(monkeypatch, fakes)
    report = sweep.run(epoch_seconds(), FakeMagicHour(project("queued")))  # type: ignore[arg-type]
    assert report.outcomes == {}
    assert fakes.queues.wakeups == []


@pytest.mark.parametrize(("waiting", "wakeups"), [([], []), (["someone"], [0])])
def test_waiting_jobs_always_get_a_wake_up(
    fakes: Fakes, monkeypatch: pytest.MonkeyPatch, waiting: list[str], wakeups: list[int]
) -> None:
    install_slots(monkeypatch, Slots({}))
    due(monkeypatch, fakes)
    asked: list[int] = []

    def waiting_jobs(limit: int) -> list[str]:
        asked.append(limit)
        return waiting

    monkeypatch.setattr(job_store, "waiting_jobs", waiting_jobs)
    report = sweep.run(epoch_seconds(), FakeMagicHour(project("queued")))  # type: ignore[arg-type]
    assert report.checked == 0
    assert asked == [1]
    assert fakes.queues.wakeups == wakeups


def test_the_report_counts_each_outcome() -> None:
    report = sweep.SweepReport()
    report.count("a")
    report.count("a")
    report.count("b")
    assert report.outcomes == {"a": 2, "b": 1}
