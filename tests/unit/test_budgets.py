"""Daily credit budgets (pipeline.jobs.budgets), with the usage store and the job store faked."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest

from pipeline.jobs import budgets, errors
from pipeline.models.job import Job, JobError, JobStatus
from pipeline.platform import ids
from pipeline.store.usage import Usage
from pipeline.submit import queries


class FakeUsage:
    """The seam to the clients table: budgets and day counters in dicts, calls recorded."""

    def __init__(self) -> None:
        self.budgets: dict[str, int] = {}
        self.spent: dict[tuple[str, str], int] = {}
        self.charges: list[tuple[str, str, int, str]] = []
        self.refunds: list[tuple[str, str]] = []
        self.fail_writes = False

    def budget_of(self, client_id: str) -> int | None:
        return self.budgets.get(client_id)

    def usage_of(self, client_id: str, day: str) -> Usage:
        return Usage(day=day, credits_charged=self.spent.get((client_id, day), 0), jobs=7)

    def record_charge(self, client_id: str, job_id: str, credits: int, day: str) -> bool:
        if self.fail_writes:
            raise RuntimeError("DynamoDB is down")
        self.charges.append((client_id, job_id, credits, day))
        return True

    def record_refund(self, client_id: str, job_id: str) -> bool:
        if self.fail_writes:
            raise RuntimeError("DynamoDB is down")
        self.refunds.append((client_id, job_id))
        return True


@pytest.fixture
def store(monkeypatch: pytest.MonkeyPatch) -> FakeUsage:
    fake = FakeUsage()
    for name in ("budget_of", "usage_of", "record_charge", "record_refund"):
        monkeypatch.setattr(budgets.usage, name, getattr(fake, name))
    return fake


@pytest.fixture
def existing_jobs(monkeypatch: pytest.MonkeyPatch) -> set[str]:
    jobs: set[str] = set()

    def get_job(job_id: str) -> Job | None:
        return _job(job_id, JobStatus.QUEUED) if job_id in jobs else None

    monkeypatch.setattr(budgets.job_store, "get_job", get_job)
    return jobs


def _job(job_id: str, status: JobStatus, error: JobError | None = None) -> Job:
    return Job(
        job_id=job_id,
        client_id="client-a",
        tool="ai-voice-generator",
        kind="audio",
        status=status,
        created_at="2026-12-01T00:00:00.000Z",
        updated_at="2026-12-01T00:00:00.000Z",
        error=error,
    )


TODAY = "2026-12-01"


def test_no_budget_never_refuses(store: FakeUsage) -> None:
    store.spent[("client-a", TODAY)] = 10**9
    budgets.check_budget("client-a", TODAY)


def test_spending_below_the_budget_passes(store: FakeUsage) -> None:
    store.budgets["client-a"] = 500
    store.spent[("client-a", TODAY)] = 499
    budgets.check_budget("client-a", TODAY)


@pytest.mark.parametrize("spent", [500, 750])
def test_spending_that_reached_the_budget_is_refused_with_budget_and_spending(
    store: FakeUsage, spent: int
) -> None:
    store.budgets["client-a"] = 500
    store.spent[("client-a", TODAY)] = spent
    with pytest.raises(budgets.BudgetExceeded) as caught:
        budgets.check_budget("client-a", TODAY)
    assert (caught.value.budget, caught.value.spent, caught.value.day) == (500, spent, TODAY)
    assert "500" in str(caught.value)
    assert str(spent) in str(caught.value)


def test_a_zero_budget_refuses_everything(store: FakeUsage) -> None:
    store.budgets["client-a"] = 0
    with pytest.raises(budgets.BudgetExceeded):
        budgets.check_budget("client-a", TODAY)


def test_only_todays_spending_and_only_this_clients_counts(store: FakeUsage) -> None:
    store.budgets["client-a"] = 500
    store.spent[("client-a", "2026-11-30")] = 900
    store.spent[("client-b", TODAY)] = 900
    budgets.check_budget("client-a", TODAY)


def test_a_replay_of_an_existing_job_passes_a_spent_budget(
    store: FakeUsage, existing_jobs: set[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(budgets, "utc_today", lambda: TODAY)
    store.budgets["client-a"] = 100
    store.spent[("client-a", TODAY)] = 100
    existing_jobs.add(ids.job_id_for_idempotency_key("client-a", "key-1"))
    budgets.check_new_submission("client-a", "key-1")
    with pytest.raises(budgets.BudgetExceeded):
        budgets.check_new_submission("client-a", "key-2")  # a new key: a new job
    with pytest.raises(budgets.BudgetExceeded):
        budgets.check_new_submission("client-a", None)  # no key: always new
    store.budgets["client-b"] = 100
    store.spent[("client-b", TODAY)] = 100
    with pytest.raises(budgets.BudgetExceeded):
        budgets.check_new_submission("client-b", "key-1")  # another client's key names another job


@pytest.mark.parametrize("raw", [None, ""])
def test_usage_day_defaults_to_today_utc(raw: str | None, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(budgets, "utc_today", lambda: TODAY)
    assert budgets.parse_day(raw) == TODAY


def test_utc_today_is_the_utc_date() -> None:
    assert budgets.utc_today() == datetime.now(UTC).date().isoformat()


@pytest.mark.parametrize(
    "raw",
    [
        "2026-02-30",
        "2026-13-01",
        "20261201",
        "2026-1-01",
        "2026-12-01T00:00",
        "today",
        "\uff12\uff10\uff12\uff16-12-01",
    ],
)
def test_a_malformed_day_is_validation_failed_at_query_day(raw: str) -> None:
    with pytest.raises(errors.RequestRefused) as caught:
        budgets.parse_day(raw)
    assert isinstance(caught.value, errors.ValidationFailed)
    assert caught.value.details == [
        {"loc": ["query", "day"], "msg": "must be a calendar date YYYY-MM-DD (UTC)"}
    ]


def test_usage_report_has_the_contract_shape(store: FakeUsage) -> None:
    store.budgets["client-a"] = 500
    store.spent[("client-a", "2026-11-23")] = 120
    report = queries.usage_report("client-a", "2026-11-23")
    assert report.model_dump() == {
        "day": "2026-11-23",
        "credits_charged": 120,
        "jobs": 7,
        "daily_credit_budget": 500,
    }
    assert queries.usage_report("client-b", "2026-11-23").daily_credit_budget is None


def test_seconds_until_the_next_utc_day() -> None:
    assert budgets.seconds_until_next_utc_day(datetime(2026, 12, 1, 23, 59, 30, tzinfo=UTC)) == 30
    assert budgets.seconds_until_next_utc_day(datetime(2026, 12, 1, 0, 0, 0, tzinfo=UTC)) == 86400
    assert budgets.seconds_until_next_utc_day(datetime(2026, 12, 1, 23, 59, 59, 999000, tzinfo=UTC)) == 1


def test_a_charge_is_counted_today_with_its_credits(
    store: FakeUsage, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(budgets, "utc_today", lambda: TODAY)
    budgets.record_charge("client-a", "job_1", 150)
    budgets.record_charge("client-a", "job_2", None)  # Magic Hour said nothing: the job still counts
    assert store.charges == [("client-a", "job_1", 150, TODAY), ("client-a", "job_2", 0, TODAY)]


def test_a_counter_that_cannot_be_written_never_fails_the_caller(store: FakeUsage) -> None:
    store.fail_writes = True
    budgets.record_charge("client-a", "job_1", 150)
    budgets.refund_if_failed(
        _job("job_1", JobStatus.FAILED, JobError(code="x", message="x", source="magic_hour"))
    )


@pytest.mark.parametrize(
    ("status", "source", "refunded"),
    [
        (JobStatus.FAILED, "magic_hour", True),
        (JobStatus.FAILED, "submit", True),
        (JobStatus.FAILED, "download", False),  # rendered and charged for good
        (JobStatus.COMPLETED, None, False),
        (JobStatus.CANCELED, None, False),
    ],
)
def test_only_a_job_magic_hour_failed_is_refunded(
    store: FakeUsage, status: JobStatus, source: Any, refunded: bool
) -> None:
    error = JobError(code="boom", message="boom", source=source) if source else None
    budgets.refund_if_failed(_job("job_1", status, error))
    assert store.refunds == ([("client-a", "job_1")] if refunded else [])


def test_a_job_the_sweep_fails_is_refunded(store: FakeUsage, monkeypatch: pytest.MonkeyPatch) -> None:
    from pipeline.sweep import sweep

    rendering = _job("job_1", JobStatus.RENDERING)

    def fail(job: Job, error: JobError, *_: Any) -> Job:
        return job.model_copy(update={"status": JobStatus.FAILED, "error": error})

    monkeypatch.setattr(sweep.job_store, "fail", fail)
    monkeypatch.setattr(sweep.callback_state, "announce_end", lambda job: None)
    sweep._fail(rendering, "project_not_found", "gone", "magic_hour")
    assert store.refunds == [("client-a", "job_1")]
