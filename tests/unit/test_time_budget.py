"""The one time-budget seam of the dispatcher and the sweep (pipeline.platform.time_budget): a step
starts only while a whole one (a Magic Hour call waited out, and its writes) still fits."""

from __future__ import annotations

from types import SimpleNamespace

from test_dispatch_budget import TODAY, _waiting, fakes, sent

from pipeline.dispatch import dispatch
from pipeline.models.job import JobStatus
from pipeline.platform.time_budget import LAMBDA_LONGEST_MS, TimeBudget, magic_hour_step_ms
from tests.fakes import Fakes

__all__ = ["fakes", "sent"]  # fixtures


def test_a_step_fits_exactly_the_time_left_and_no_more() -> None:
    assert TimeBudget.fixed(1_000).fits(1_000)
    assert not TimeBudget.fixed(1_000).fits(1_001)
    assert TimeBudget.fixed().left_ms() == LAMBDA_LONGEST_MS == 15 * 60 * 1000


def test_the_budget_of_an_invocation_reads_its_context_each_time() -> None:
    left = [90_000]
    budget = TimeBudget.of(SimpleNamespace(get_remaining_time_in_millis=lambda: left[0]))
    assert budget.fits_magic_hour_step()
    left[0] = magic_hour_step_ms() - 1
    assert not budget.fits_magic_hour_step()


def _queued(fakes: Fakes) -> str:
    fakes.store.usage.days[("client-a", TODAY)] = {"reserved": 20, "charged": 0, "jobs": 0}
    job = _waiting(reserved_credits=20, budget_day=TODAY)
    fakes.store.put(job)
    return job.job_id


def test_the_dispatcher_creates_nothing_once_a_create_no_longer_fits_and_hands_over(
    fakes: Fakes, sent: list[str]
) -> None:
    job_id = _queued(fakes)
    report = dispatch.run(None, TimeBudget.fixed(magic_hour_step_ms() - 1))  # type: ignore[arg-type]
    assert sent == []
    assert report.outcomes == {"out_of_time": 1}
    assert fakes.queues.wakeups == [0]  # a fresh invocation carries on at once
    job = fakes.store.get_job(job_id)
    assert job is not None
    assert job.status is JobStatus.WAITING


def test_the_dispatcher_creates_while_exactly_one_create_fits(fakes: Fakes, sent: list[str]) -> None:
    job_id = _queued(fakes)
    dispatch.run(None, TimeBudget.fixed(magic_hour_step_ms()))  # type: ignore[arg-type]
    assert sent == [job_id]
