"""Daily credit budgets as bounds at submission (pipeline.submit.submission with
pipeline.jobs.reservations), on the in-memory job store and usage of tests/fakes.py; and the usage
report and UTC days (pipeline.jobs.budgets)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any, cast

import pytest

from pipeline.create import creation
from pipeline.jobs import budgets, errors, moves
from pipeline.magic_hour.catalogue import find_tool
from pipeline.magic_hour.client import MagicHourClient
from pipeline.models.api import CreateJobRequest
from pipeline.models.job import Job, JobStatus
from pipeline.platform import ids
from pipeline.platform.settings import Settings
from pipeline.submit import queries, submission
from pipeline.submit.idempotency import submit_once
from pipeline.submit.validation import Submission
from tests.fakes import Fakes, install

TODAY = "2026-12-01"
CLIENT = "client-a"
# 5 s of video: 150 credits estimated (30 a second).
VIDEO = {"tool": "text-to-video", "input": {"end_seconds": 5, "style": {"prompt": "rain"}}}
MAGIC_HOUR = cast(MagicHourClient, object())  # never reached: creation.create is replaced


def make_submission(key: str | None = None, body: dict[str, Any] | None = None) -> Submission:
    request = CreateJobRequest.model_validate(body or VIDEO)
    tool = find_tool(request.tool)
    assert tool is not None
    return Submission(CLIENT, request, tool, "fp", key)


@pytest.fixture
def fakes(monkeypatch: pytest.MonkeyPatch) -> Fakes:
    monkeypatch.setattr(submission, "get_settings", lambda: Settings())
    monkeypatch.setattr(budgets, "utc_today", lambda: TODAY)
    return install(monkeypatch)


@pytest.fixture
def creates(fakes: Fakes, monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """creation.create: Magic Hour creates every project, charging `charge` credits."""
    created: list[str] = []

    def create(job: Job, magic_hour: MagicHourClient, *, inline: bool) -> Job:
        created.append(job.job_id)
        return moves.attach(job, f"proj_{len(created)}", 120) or job

    monkeypatch.setattr(creation, "create", create)
    return created


def day(fakes: Fakes, client_id: str = CLIENT) -> dict[str, int]:
    return fakes.store.usage.day(client_id, TODAY)


def test_jobs_are_admitted_while_their_estimates_fit_and_charged_what_magic_hour_says(
    fakes: Fakes, creates: list[str]
) -> None:
    fakes.store.usage.budgets[CLIENT] = 500
    # Charged 120 each (Magic Hour's word), reserved 150 until then: four fit, as 4 * 120 + 150 > 500.
    for _ in range(3):
        job = submit_once(make_submission(), MAGIC_HOUR)
        assert job.status is JobStatus.QUEUED
        assert (job.counted_credits, job.reserved_credits, job.budget_day) == (120, None, TODAY)
    assert day(fakes) == {"reserved": 0, "charged": 360, "jobs": 3}
    with pytest.raises(errors.BudgetExceeded) as refused:
        submit_once(make_submission(), MAGIC_HOUR)
    assert (refused.value.budget, refused.value.spent, refused.value.estimate) == (500, 360, 150)
    assert "500" in str(refused.value)
    assert "360" in str(refused.value)
    assert "150" in str(refused.value)
    assert 1 <= refused.value.retry_after_seconds <= 86400
    # Nothing written, nothing sent.
    assert len(creates) == 3
    assert len(fakes.store.jobs) == 3
    assert day(fakes) == {"reserved": 0, "charged": 360, "jobs": 3}


def test_an_unknown_outcome_keeps_its_reservation_against_the_budget(
    fakes: Fakes, monkeypatch: pytest.MonkeyPatch
) -> None:
    fakes.store.usage.budgets[CLIENT] = 300
    monkeypatch.setattr(creation, "create", lambda job, magic_hour, *, inline: job)  # 502/504: unknown
    first = submit_once(make_submission(), MAGIC_HOUR)
    assert first.status is JobStatus.SUBMITTING
    assert day(fakes) == {"reserved": 150, "charged": 0, "jobs": 0}
    submit_once(make_submission(), MAGIC_HOUR)
    with pytest.raises(errors.BudgetExceeded):
        submit_once(make_submission(), MAGIC_HOUR)
    assert day(fakes) == {"reserved": 300, "charged": 0, "jobs": 0}


def test_an_estimate_beyond_the_whole_budget_is_refused_before_any_write(
    fakes: Fakes, creates: list[str]
) -> None:
    fakes.store.usage.budgets[CLIENT] = 149
    with pytest.raises(errors.BudgetExceeded):
        submit_once(make_submission(), MAGIC_HOUR)
    fakes.store.usage.budgets[CLIENT] = 0
    with pytest.raises(errors.BudgetExceeded):
        submit_once(
            make_submission(body={"tool": "ai-voice-generator", "input": {"style": {"prompt": "x"}}}),
            MAGIC_HOUR,
        )
    assert (creates, fakes.store.jobs, fakes.store.usage.days) == ([], {}, {})


def test_no_budget_never_refuses_and_still_counts(fakes: Fakes, creates: list[str]) -> None:
    fakes.store.usage.days[(CLIENT, TODAY)] = {"reserved": 0, "charged": 10**9, "jobs": 1}
    job = submit_once(make_submission(), MAGIC_HOUR)
    assert job.status is JobStatus.QUEUED
    assert day(fakes) == {"reserved": 0, "charged": 10**9 + 120, "jobs": 2}


def test_only_todays_spending_and_only_this_clients_counts(fakes: Fakes, creates: list[str]) -> None:
    fakes.store.usage.budgets[CLIENT] = 150
    fakes.store.usage.days[(CLIENT, "2026-11-30")] = {"reserved": 900, "charged": 900, "jobs": 9}
    fakes.store.usage.days[("client-b", TODAY)] = {"reserved": 900, "charged": 900, "jobs": 9}
    assert submit_once(make_submission(), MAGIC_HOUR).status is JobStatus.QUEUED


def test_a_replay_of_an_existing_job_passes_a_spent_budget(fakes: Fakes, creates: list[str]) -> None:
    fakes.store.usage.budgets[CLIENT] = 150
    first = submit_once(make_submission("key-1"), MAGIC_HOUR)
    assert first.job_id == ids.job_id_for_idempotency_key(CLIENT, "key-1")
    spent = dict(day(fakes))
    # The budget is spent: the same key answers its job, a new key or none is refused.
    assert submit_once(make_submission("key-1"), MAGIC_HOUR).job_id == first.job_id
    fakes.store.usage.budgets[CLIENT] = 100  # even below the job's own estimate
    assert submit_once(make_submission("key-1"), MAGIC_HOUR).job_id == first.job_id
    for key in ("key-2", None):
        with pytest.raises(errors.BudgetExceeded):
            submit_once(make_submission(key), MAGIC_HOUR)
    assert day(fakes) == spent
    assert creates == [first.job_id]


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


def test_usage_report_has_the_contract_shape(fakes: Fakes) -> None:
    fakes.store.usage.budgets["client-a"] = 500
    # Reserved credits are no spending: the report shows what Magic Hour charged.
    fakes.store.usage.days[("client-a", "2026-11-23")] = {"reserved": 300, "charged": 120, "jobs": 7}
    fakes.store.usage.uploads[("client-a", "2026-11-23")] = 4
    report = queries.usage_report("client-a", "2026-11-23")
    assert report.model_dump() == {
        "day": "2026-11-23",
        "credits_charged": 120,
        "jobs": 7,
        "daily_credit_budget": 500,
        "uploads": 4,
    }
    assert queries.usage_report("client-b", "2026-11-23").daily_credit_budget is None


def test_seconds_until_the_next_utc_day() -> None:
    assert budgets.seconds_until_next_utc_day(datetime(2026, 12, 1, 23, 59, 30, tzinfo=UTC)) == 30
    assert budgets.seconds_until_next_utc_day(datetime(2026, 12, 1, 0, 0, 0, tzinfo=UTC)) == 86400
    assert budgets.seconds_until_next_utc_day(datetime(2026, 12, 1, 23, 59, 59, 999000, tzinfo=UTC)) == 1
