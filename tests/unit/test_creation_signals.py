"""What a create tells the operator (create/creation.py): the metric each Magic Hour answer counts
(the alarms and the dashboard read them by name and `outcome`), and the log line each one writes,
which names the job and its client so one Logs Insights query on `job_id` tells the story."""

from __future__ import annotations

import pytest
from test_creation_outcomes import JOB_ID, NOW, SETTINGS, submitting

from pipeline.create import creation
from pipeline.magic_hour.client import CreatedProject
from pipeline.magic_hour.errors import (
    MagicHourAuthFailed,
    MagicHourKeyUnavailable,
    MagicHourOutcomeUnknown,
    MagicHourPaymentRequired,
    MagicHourRateLimited,
    MagicHourRejected,
    MagicHourUnavailable,
)
from pipeline.models.job import JobStatus
from tests.fakes import FakeMagicHour, Fakes, Signals, install, install_signals


@pytest.fixture
def seen(monkeypatch: pytest.MonkeyPatch) -> tuple[Signals, Fakes]:
    recorder = install_signals(monkeypatch, creation)
    monkeypatch.setattr(creation, "get_settings", lambda: SETTINGS)
    monkeypatch.setattr(creation, "epoch_seconds", lambda: NOW)
    fakes = install(monkeypatch)
    monkeypatch.setattr(creation.fair_queue, "next_round_for", lambda client_id: 1)
    monkeypatch.setattr(creation.fair_queue, "hold", lambda: (0, 0))
    monkeypatch.setattr(creation.fair_queue, "set_hold", lambda until, streak: None)
    monkeypatch.setattr(creation.fair_queue, "clear_hold", lambda: None)
    return recorder, fakes


def run(seen: tuple[Signals, Fakes], answer: CreatedProject | Exception, *, age: int = 0) -> Signals:
    recorder, fakes = seen
    job = submitting(age)
    fakes.store.put(job)
    creation.create(job, FakeMagicHour(answer), inline=False)  # type: ignore[arg-type]
    return recorder


def test_every_line_names_the_job_and_its_client(seen: tuple[Signals, Fakes]) -> None:
    recorder = run(seen, CreatedProject("proj_1", 5))
    assert recorder.jobs == [(JOB_ID, "client-a")]


def test_a_created_project_is_counted_and_logged_with_its_id(seen: tuple[Signals, Fakes]) -> None:
    recorder = run(seen, CreatedProject("proj_1", 5))
    assert recorder.metrics == [("MagicHourCreates", {"outcome": "created"})]
    assert recorder.lines == [
        (
            "info",
            "Magic Hour project created",
            {"job_id": JOB_ID, "client_id": "client-a", "project_id": "proj_1"},
        )
    ]


def test_credits_out_of_range_are_counted_and_logged(seen: tuple[Signals, Fakes]) -> None:
    recorder = run(seen, CreatedProject("proj_1", None, credits_out_of_range=True))
    assert recorder.metrics == [
        ("MagicHourCreditsOutOfRange", {}),
        ("MagicHourCreates", {"outcome": "created"}),
    ]
    assert recorder.lines[0] == (
        "warning",
        "Magic Hour answered credits out of range; recorded as unknown",
        {"job_id": JOB_ID, "client_id": "client-a", "project_id": "proj_1"},
    )


def test_an_unknown_outcome_is_counted_and_logged_with_the_reason(seen: tuple[Signals, Fakes]) -> None:
    recorder = run(seen, MagicHourOutcomeUnknown("Magic Hour did not answer in time"))
    assert recorder.metrics == [("MagicHourCreates", {"outcome": "unknown"})]
    assert recorder.lines == [
        (
            "warning",
            "Magic Hour create outcome unknown; the job waits for its webhook",
            {"job_id": JOB_ID, "client_id": "client-a", "error": "Magic Hour did not answer in time"},
        )
    ]


@pytest.mark.parametrize("refusal", [MagicHourRejected("bad", 422), MagicHourPaymentRequired("poor", 402)])
def test_a_refusal_is_counted(seen: tuple[Signals, Fakes], refusal: Exception) -> None:
    recorder = run(seen, refusal)
    assert recorder.metrics == [("MagicHourCreates", {"outcome": "refused"})]


def test_our_rejected_key_is_counted_logged_and_waits_as_misconfigured(seen: tuple[Signals, Fakes]) -> None:
    recorder, fakes = seen
    run(seen, MagicHourAuthFailed("Unauthorized", 401))
    assert recorder.metrics == [
        ("MagicHourCreates", {"outcome": "auth_failed"}),
        ("MagicHourCreateRetries", {}),
    ]
    assert recorder.lines[0] == ("error", "Magic Hour rejected our API key", {"status": 401})
    waiting = fakes.store.get_job(JOB_ID)
    assert waiting is not None
    assert (waiting.status, waiting.last_create_error) == (JobStatus.WAITING, "upstream_misconfigured")


def test_an_unreadable_key_is_not_counted_as_a_rejected_one(seen: tuple[Signals, Fakes]) -> None:
    recorder = run(seen, MagicHourKeyUnavailable("no key"))
    assert recorder.metrics == [("MagicHourCreateRetries", {})]


def test_a_wait_is_counted_and_logged_with_what_magic_hour_said(seen: tuple[Signals, Fakes]) -> None:
    recorder = run(seen, MagicHourRateLimited("Too many requests", 7))
    assert recorder.metrics == [("MagicHourCreateRetries", {})]
    assert recorder.lines == [
        (
            "info",
            "Magic Hour could not take the create; the job waits",
            {
                "job_id": JOB_ID,
                "client_id": "client-a",
                "code": "upstream_rate_limited",
                "magic_hour_message": "Too many requests",
                # Retry-After (7) is longer than the first delay of the schedule (2).
                "retry_in": 7,
            },
        )
    ]


def test_a_wait_of_an_unavailable_magic_hour_keeps_its_message(seen: tuple[Signals, Fakes]) -> None:
    recorder = run(seen, MagicHourUnavailable("down for maintenance", 503))
    extra = recorder.lines[0][2]
    assert extra is not None
    assert (extra["code"], extra["magic_hour_message"], extra["retry_in"]) == (
        "upstream_unavailable",
        "down for maintenance",
        2,
    )


def test_a_failure_at_the_deadline_is_logged_with_its_code(seen: tuple[Signals, Fakes]) -> None:
    recorder = run(seen, MagicHourRateLimited("slow", 1), age=SETTINGS.create_deadline_seconds)
    assert recorder.lines[0] == (
        "warning",
        "create deadline passed; job failed",
        {"job_id": JOB_ID, "client_id": "client-a", "code": "upstream_rate_limited"},
    )


def test_a_retry_waits_at_least_a_second_even_when_every_delay_is_zero(
    seen: tuple[Signals, Fakes], monkeypatch: pytest.MonkeyPatch
) -> None:
    # A zero delay would have the dispatcher hammer Magic Hour in a loop while it refuses.
    monkeypatch.setattr(
        creation, "get_settings", lambda: SETTINGS.model_copy(update={"create_retry_delays_seconds": [0]})
    )
    recorder = run(seen, MagicHourUnavailable("down", 503))
    extra = recorder.lines[0][2]
    assert extra is not None
    assert extra["retry_in"] == 1


def test_a_project_that_could_not_be_recorded_is_counted_and_logged_with_its_id(
    seen: tuple[Signals, Fakes], monkeypatch: pytest.MonkeyPatch
) -> None:
    """Magic Hour charged it and the record failed: the operator must be able to find the project."""

    def down(*_: object, **__: object) -> None:
        raise RuntimeError("DynamoDB InternalServerError")

    monkeypatch.setattr(creation.moves.job_store, "attach_project", down)
    monkeypatch.setattr(creation.job_store, "mark_create_unknown", down)
    recorder = run(seen, CreatedProject("proj_1", 5))
    assert recorder.metrics == [("MagicHourCreates", {"outcome": "created_unrecorded"})]
    assert recorder.lines == [
        (
            "exception",
            "Magic Hour created the project but it could not be recorded; the webhook will",
            {"job_id": JOB_ID, "client_id": "client-a", "project_id": "proj_1"},
        ),
        ("exception", "could not note the unknown outcome", {"job_id": JOB_ID}),
    ]
