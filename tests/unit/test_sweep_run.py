"""The sweep's loop: it stops before its invocation runs out and never runs twice at once."""

from __future__ import annotations

from typing import Any

import pytest

from pipeline.models.job import Job, JobStatus
from pipeline.platform.settings import get_settings
from pipeline.platform.time_budget import TimeBudget, magic_hour_step_ms
from pipeline.store.due_checks import DueCheck
from pipeline.sweep import sweep
from tests.fakes import serve_due_index

SETTINGS = get_settings()


def _job(n: int) -> Job:
    return Job(
        job_id=f"job_{n}",
        client_id="c",
        tool="face-swap",
        kind="video",
        status=JobStatus.RENDERING,
        project_id=f"p{n}",
        created_at="2026-11-23T00:00:00.000Z",
        updated_at="2026-11-23T00:00:00.000Z",
    )


class FakeLeases:
    def __init__(self, held_by: str | None = None) -> None:
        self.held_by = held_by
        self.acquired: list[tuple[str, str, int]] = []
        self.released: list[tuple[str, str]] = []

    def acquire(self, name: str, holder: str, seconds: int) -> bool:
        if self.held_by not in (None, holder):
            return False
        self.held_by = holder
        self.acquired.append((name, holder, seconds))
        return True

    def release(self, name: str, holder: str) -> None:
        self.released.append((name, holder))
        if self.held_by == holder:
            self.held_by = None


def serve_due(monkeypatch: pytest.MonkeyPatch, jobs: Any) -> None:
    """The sweep's index holds `jobs()` (all due), and each job reads as itself."""

    def due(after: int | None, now: int, limit: int) -> list[DueCheck]:
        # Everything is due at once: a later read (after=...) finds nothing new.
        listed = jobs() if after is None else []
        return [DueCheck(j.job_id, j.client_id, j.status.value, 0) for j in listed][:limit]

    serve_due_index(monkeypatch, due)
    monkeypatch.setattr(
        sweep.job_store, "get_job", lambda job_id: next((j for j in jobs() if j.job_id == job_id), None)
    )


@pytest.fixture
def wired(monkeypatch: pytest.MonkeyPatch) -> dict[str, Any]:
    state: dict[str, Any] = {"checked": [], "leases": FakeLeases(), "jobs": [_job(n) for n in range(10)]}
    serve_due(monkeypatch, lambda: state["jobs"])
    monkeypatch.setattr(sweep.sweep_lease, "leases", state["leases"])
    monkeypatch.setattr(sweep, "reclaim_stale_slots", lambda: 0)
    monkeypatch.setattr(sweep.job_store, "waiting_jobs", lambda limit: [])

    def check(job: Job, now: int, magic_hour: Any) -> str:
        state["checked"].append(job.job_id)
        return "unchanged"

    monkeypatch.setattr(sweep, "check", check)
    return state


def test_every_due_job_is_checked_when_time_allows(wired: dict[str, Any]) -> None:
    report = sweep.run(0, magic_hour=None, budget=TimeBudget.fixed(120_000))  # type: ignore[arg-type]
    assert report.checked == 10
    assert report.stopped is None
    assert report.outcomes == {"unchanged": 10}


def test_the_sweep_stops_when_one_more_check_might_not_finish(
    wired: dict[str, Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    needed = magic_hour_step_ms()
    # Each check "takes" one check's worst case: 3.5 checks' worth of time leaves room for 3.
    clock = {"left": int(needed * 3.5)}

    def remaining() -> int:
        return clock["left"]

    original_check = sweep.check

    def slow_check(job: Job, now: int, magic_hour: Any) -> str:
        clock["left"] -= needed
        return original_check(job, now, magic_hour)

    monkeypatch.setattr(sweep, "check", slow_check)
    # One check at a time, so each takes its share of the time in turn.
    monkeypatch.setattr(
        sweep.sweep_batch, "get_settings", lambda: SETTINGS.model_copy(update={"sweep_concurrency": 1})
    )
    report = sweep.run(0, magic_hour=None, budget=TimeBudget(remaining))  # type: ignore[arg-type]
    assert report.checked == 3
    assert report.stopped == "time"
    assert wired["checked"] == ["job_0", "job_1", "job_2"]


def test_the_time_kept_back_covers_a_magic_hour_call() -> None:
    # 20 s read timeout + 3.05 s connect: a check started with less than that may outlive the sweep.
    assert magic_hour_step_ms() >= 23_050


def test_a_sweep_does_nothing_while_another_holds_the_lease(wired: dict[str, Any]) -> None:
    wired["leases"].held_by = "other-invocation"
    report = sweep.run(0, magic_hour=None, budget=TimeBudget.fixed(120_000), holder="me")  # type: ignore[arg-type]
    assert report.stopped == "overlap"
    assert report.checked == 0
    assert wired["checked"] == []
    assert wired["leases"].released == []  # it must not free the other sweep's lease


def test_the_lease_lasts_two_checks_not_the_invocation_and_is_released(wired: dict[str, Any]) -> None:
    # A sweep whose environment dies never releases its lease: held for the whole invocation
    # (280 s deployed) it kept every later sweep out that long, so no owed callback was queued.
    sweep.run(0, magic_hour=None, budget=TimeBudget.fixed(280_000), holder="me")  # type: ignore[arg-type]
    two_checks = -(-2 * magic_hour_step_ms() // 1000)
    assert two_checks < 280
    assert wired["leases"].acquired == [("sweep", "me", two_checks)]
    assert wired["leases"].released == [("sweep", "me")]
    assert wired["leases"].held_by is None


def test_the_lease_never_outlasts_the_invocation(wired: dict[str, Any]) -> None:
    sweep.run(0, magic_hour=None, budget=TimeBudget.fixed(20_000), holder="me")  # type: ignore[arg-type]
    assert wired["leases"].acquired == [("sweep", "me", 21)]


def test_a_long_run_renews_its_lease_and_stops_when_it_was_taken_over(
    wired: dict[str, Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    clock = {"now": 0.0}
    monkeypatch.setattr(sweep.sweep_lease, "_now", lambda: clock["now"])
    seconds = sweep.sweep_lease.lease_seconds(magic_hour_step_ms(), 280_000)
    original_check = sweep.check

    def slow_check(job: Job, now: int, magic_hour: Any) -> str:
        # Each check takes half the lease; after the fourth, another sweep takes the lease over.
        clock["now"] += seconds / 2
        if job.job_id == "job_3":
            wired["leases"].held_by = "other-invocation"
        return original_check(job, now, magic_hour)

    monkeypatch.setattr(sweep, "check", slow_check)
    monkeypatch.setattr(
        sweep.sweep_batch, "get_settings", lambda: SETTINGS.model_copy(update={"sweep_concurrency": 1})
    )
    report = sweep.run(0, magic_hour=None, budget=TimeBudget.fixed(280_000), holder="me")  # type: ignore[arg-type]
    # Renewed before the checks that came a third of the lease or more after the last renewal.
    assert wired["leases"].acquired == [("sweep", "me", seconds)] * 4
    assert wired["checked"] == ["job_0", "job_1", "job_2", "job_3"]
    assert report.stopped == "lease"
    assert wired["leases"].released == []  # the lease is the other sweep's now


def test_the_lease_is_released_when_the_loop_fails(
    wired: dict[str, Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    def broken(after: int | None, now: int, limit: int) -> list[DueCheck]:
        raise RuntimeError("DynamoDB is down")

    serve_due_index(monkeypatch, broken)
    with pytest.raises(RuntimeError):
        sweep.run(0, magic_hour=None, budget=TimeBudget.fixed(120_000), holder="me")  # type: ignore[arg-type]
    assert wired["leases"].released == [("sweep", "me")]
