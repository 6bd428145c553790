"""What a sweep run tells the operator (sweep/sweep.run): the SweepRuns and SweepChecks metrics
the alarms and the dashboard read by `outcome`, the log lines naming the job and its client, and
the edges of its time budget and lease."""

from __future__ import annotations

from typing import Any

import pytest
from test_sweep_run import _job, wired  # noqa: F401 - the fixture is used by name

from pipeline.magic_hour.errors import MagicHourUnavailable
from pipeline.models.job import Job
from pipeline.sweep import sweep
from tests.fakes import Signals, install_signals

# Every run that did its work says how overdue the oldest check it left is.
OVERDUE = ("SweepOldestOverdue", {})


@pytest.fixture
def signals(wired: dict[str, Any], monkeypatch: pytest.MonkeyPatch) -> Signals:  # noqa: F811
    seen = install_signals(monkeypatch, sweep)
    monkeypatch.setattr(sweep, "about_job_in_thread", seen.about_job)
    seen.postponed = []  # type: ignore[attr-defined]
    monkeypatch.setattr(
        sweep.job_store,
        "postpone_check",
        lambda job_id, at, checks: seen.postponed.append((job_id, at, checks)),
    )
    wired["jobs"] = [_job(1)]
    return seen


def test_each_check_is_counted_by_its_outcome_and_names_its_job(signals: Signals) -> None:
    sweep.run(0, magic_hour=None, remaining_ms=lambda: 120_000)  # type: ignore[arg-type]
    assert signals.metrics == [("SweepChecks", {"outcome": "unchanged"}), OVERDUE]
    assert signals.jobs[0] == ("job_1", "c")
    assert signals.jobs[-1] == (None, None)  # lines after the loop name no job


def test_magic_hour_down_is_counted_logged_and_postponed(
    signals: Signals, monkeypatch: pytest.MonkeyPatch
) -> None:
    def down(job: Job, now: int, magic_hour: Any) -> str:
        raise MagicHourUnavailable("Magic Hour is down", 503)

    monkeypatch.setattr(sweep, "check", down)
    report = sweep.run(1000, magic_hour=None, remaining_ms=lambda: 120_000)  # type: ignore[arg-type]
    assert report.outcomes == {"magic_hour_unavailable": 1}
    assert signals.metrics == [("SweepChecks", {"outcome": "magic_hour_unavailable"}), OVERDUE]
    assert signals.lines == [
        (
            "warning",
            "Magic Hour unavailable for the sweep",
            {"job_id": "job_1", "client_id": "c", "error": "Magic Hour is down"},
        )
    ]
    assert signals.postponed == [("job_1", 1000 + sweep.get_settings().sweep_backoff_base_seconds, 1)]


def test_a_job_that_breaks_its_check_is_counted_logged_and_postponed(
    signals: Signals, monkeypatch: pytest.MonkeyPatch
) -> None:
    def broken(job: Job, now: int, magic_hour: Any) -> str:
        raise KeyError("a bug")

    monkeypatch.setattr(sweep, "check", broken)
    report = sweep.run(1000, magic_hour=None, remaining_ms=lambda: 120_000)  # type: ignore[arg-type]
    assert report.outcomes == {"error": 1}
    assert signals.metrics == [("SweepChecks", {"outcome": "error"}), OVERDUE]
    assert signals.lines == [
        ("exception", "sweep could not check a job", {"job_id": "job_1", "client_id": "c"})
    ]
    assert [job_id for job_id, _, _ in signals.postponed] == ["job_1"]


def test_a_run_cut_short_is_counted_and_logged(signals: Signals) -> None:
    needed = sweep.time_needed_per_check_ms()
    report = sweep.run(0, magic_hour=None, remaining_ms=lambda: needed - 1)  # type: ignore[arg-type]
    assert report.stopped == "time"
    assert signals.metrics == [("SweepRuns", {"outcome": "cut_short"}), OVERDUE]
    assert signals.lines == [("warning", "sweep stopped before its timeout", {"checked": 0})]


def test_exactly_one_checks_worth_of_time_left_is_enough_for_one_more(signals: Signals) -> None:
    needed = sweep.time_needed_per_check_ms()
    report = sweep.run(0, magic_hour=None, remaining_ms=lambda: needed)  # type: ignore[arg-type]
    assert report.checked == 1
    assert report.stopped is None


def test_an_overlapping_run_is_counted_and_logged(signals: Signals, wired: dict[str, Any]) -> None:  # noqa: F811
    wired["leases"].held_by = "another"
    sweep.run(0, magic_hour=None, remaining_ms=lambda: 120_000)  # type: ignore[arg-type]
    assert signals.metrics == [("SweepRuns", {"outcome": "overlap"})]
    assert signals.lines == [("warning", "another sweep is still running; this one does nothing", None)]


def test_without_a_lambda_context_the_lease_is_two_checks_not_lambdas_longest_run(
    signals: Signals,
    wired: dict[str, Any],  # noqa: F811
) -> None:
    sweep.run(0, magic_hour=None)  # type: ignore[arg-type]
    # Two checks' worst case (sweep_lease.py), well short of 15 minutes (Lambda's maximum run):
    # a sweep whose environment died keeps the next one out that long at most.
    two_checks = -(-2 * sweep.time_needed_per_check_ms() // 1000)
    assert two_checks < 900
    assert wired["leases"].acquired == [("sweep", "sweep", two_checks)]
