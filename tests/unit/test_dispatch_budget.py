"""The dispatcher re-checks a waiting job's reservation when its turn comes (pipeline.dispatch.dispatch
with the fakes of tests/fakes.py): a job whose client's budget no longer holds it is never sent."""

from __future__ import annotations

from typing import Any

import pytest

from pipeline.create import claims, creation
from pipeline.dispatch import dispatch
from pipeline.jobs import budgets
from pipeline.models.job import Job, JobStatus
from pipeline.platform.time_budget import TimeBudget
from pipeline.platform.timeutil import now_iso
from tests.fakes import Fakes, install

TODAY = "2026-12-07"
YESTERDAY = "2026-12-06"


def _waiting(**money: Any) -> Job:
    now = now_iso()
    return Job(
        job_id="job_aaaaaaaaaaaaaaaaaaaaaaaaaa",
        client_id="client-a",
        tool="ai-voice-generator",
        kind="audio",
        status=JobStatus.WAITING,
        created_at=now,
        updated_at=now,
        fair_key="000000000001#x",
        **money,
    )


@pytest.fixture
def fakes(monkeypatch: pytest.MonkeyPatch) -> Fakes:
    installed = install(monkeypatch)
    monkeypatch.setattr(budgets, "utc_today", lambda: TODAY)
    monkeypatch.setattr(dispatch.fair_queue, "hold", lambda: (0, 0))
    monkeypatch.setattr(dispatch.fair_queue, "note_dispatched", lambda round_: None)
    monkeypatch.setattr(dispatch.account, "concurrency_limit", lambda magic_hour=None: 0)

    def next_due_job(limit: int = 0) -> Job | None:
        for job in installed.store.jobs.values():
            if job.status is JobStatus.WAITING:
                return job.model_copy(deep=True)
        return None

    monkeypatch.setattr(claims, "next_due_job", next_due_job)
    return installed


@pytest.fixture
def sent(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    created: list[str] = []

    def create(job: Job, magic_hour: Any, *, inline: bool) -> Job:
        created.append(job.job_id)
        return job

    monkeypatch.setattr(creation, "create", create)
    return created


def _run() -> dispatch.DispatchReport:
    return dispatch.run(None, TimeBudget.fixed())  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("budget", "is_sent"), [(None, True), (20, True), (500, True), (19, False), (0, False)]
)
def test_a_waiting_job_is_sent_only_while_its_reservation_fits_the_budget_as_it_is_now(
    fakes: Fakes, sent: list[str], budget: int | None, is_sent: bool
) -> None:
    """It reserved 20 credits when admitted; the operator may have lowered the budget since."""
    if budget is not None:
        fakes.store.usage.budgets["client-a"] = budget
    fakes.store.usage.days[("client-a", TODAY)] = {"reserved": 20, "charged": 0, "jobs": 0}
    fakes.store.put(_waiting(reserved_credits=20, budget_day=TODAY))
    report = _run()
    job = fakes.store.get_job("job_aaaaaaaaaaaaaaaaaaaaaaaaaa")
    assert job is not None
    if is_sent:
        assert sent == [job.job_id]
        assert job.status is JobStatus.SUBMITTING
        assert fakes.store.usage.day("client-a", TODAY) == {"reserved": 20, "charged": 0, "jobs": 0}
        return
    assert sent == []
    assert job.status is JobStatus.FAILED
    assert job.error is not None
    assert (job.error.code, job.error.source) == ("budget_exceeded", "submit")
    assert report.outcomes == {"budget_exceeded": 1}
    # Nothing created: its reservation is given back.
    assert fakes.store.usage.day("client-a", TODAY) == {"reserved": 0, "charged": 0, "jobs": 0}


def test_a_reservation_made_yesterday_moves_to_the_day_its_create_is_sent(
    fakes: Fakes, sent: list[str]
) -> None:
    fakes.store.usage.budgets["client-a"] = 100
    fakes.store.usage.days[("client-a", YESTERDAY)] = {"reserved": 20, "charged": 500, "jobs": 5}
    fakes.store.usage.days[("client-a", TODAY)] = {"reserved": 0, "charged": 80, "jobs": 4}
    fakes.store.put(_waiting(reserved_credits=20, budget_day=YESTERDAY))
    _run()
    assert len(sent) == 1
    assert fakes.store.usage.day("client-a", YESTERDAY) == {"reserved": 0, "charged": 500, "jobs": 5}
    assert fakes.store.usage.day("client-a", TODAY) == {"reserved": 20, "charged": 80, "jobs": 4}
    assert fakes.store.get_job(sent[0]).budget_day == TODAY  # type: ignore[union-attr]


def test_a_reservation_from_yesterday_that_does_not_fit_today_is_not_sent(
    fakes: Fakes, sent: list[str]
) -> None:
    fakes.store.usage.budgets["client-a"] = 100
    fakes.store.usage.days[("client-a", YESTERDAY)] = {"reserved": 20, "charged": 0, "jobs": 0}
    fakes.store.usage.days[("client-a", TODAY)] = {"reserved": 0, "charged": 81, "jobs": 4}
    fakes.store.put(_waiting(reserved_credits=20, budget_day=YESTERDAY))
    _run()
    assert sent == []
    assert fakes.store.usage.day("client-a", YESTERDAY) == {"reserved": 0, "charged": 0, "jobs": 0}
    assert fakes.store.usage.day("client-a", TODAY) == {"reserved": 0, "charged": 81, "jobs": 4}
