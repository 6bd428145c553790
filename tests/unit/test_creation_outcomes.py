"""What creation leaves in the job store for each Magic Hour answer (create/creation.py), on the
in-memory store of tests/fakes.py: the retry schedule at the create deadline's edges, the reason a
job fails with, and that a caller always gets the job as stored."""

from __future__ import annotations

from typing import Any

import pytest

from pipeline.create import creation
from pipeline.magic_hour.client import CreatedProject
from pipeline.magic_hour.errors import (
    MagicHourError,
    MagicHourKeyUnavailable,
    MagicHourOutcomeUnknown,
    MagicHourRateLimited,
    MagicHourRejected,
    MagicHourUnavailable,
)
from pipeline.models.job import Job, JobStatus
from pipeline.platform import ids
from pipeline.platform.settings import Settings
from pipeline.platform.timeutil import iso
from tests.fakes import FakeMagicHour, Fakes, install

JOB_ID = ids.job_id_for_idempotency_key("client-a", "creation")
NOW = 1_900_000_000
DEADLINE = 3600
SETTINGS = Settings(create_retry_delays_seconds=[2, 10, 60], create_deadline_seconds=DEADLINE)


@pytest.fixture
def fakes(monkeypatch: pytest.MonkeyPatch) -> Fakes:
    monkeypatch.setattr(creation, "get_settings", lambda: SETTINGS)
    monkeypatch.setattr(creation, "epoch_seconds", lambda: NOW)
    rounds: list[str] = []
    monkeypatch.setattr(
        creation.fair_queue, "next_round_for", lambda client_id: rounds.append(client_id) or 3
    )
    installed = install(monkeypatch)
    installed.rounds = rounds  # type: ignore[attr-defined]
    # Magic Hour's refusals pause every create (the pipeline's hold, in the clients table).
    holds: list[tuple[int, int]] = []
    monkeypatch.setattr(creation.fair_queue, "hold", lambda: (0, 0))
    monkeypatch.setattr(creation.fair_queue, "set_hold", lambda until, streak: holds.append((until, streak)))
    monkeypatch.setattr(creation.fair_queue, "clear_hold", lambda: holds.append((0, 0)))
    installed.holds = holds  # type: ignore[attr-defined]
    return installed


def submitting(age: int, **changes: Any) -> Job:
    from datetime import UTC, datetime

    created = iso(datetime.fromtimestamp(NOW - age, UTC))
    fields: dict[str, Any] = {
        "job_id": JOB_ID,
        "client_id": "client-a",
        "tool": "ai-voice-generator",
        "kind": "audio",
        "status": JobStatus.SUBMITTING,
        "created_at": created,
        "updated_at": created,
        "magic_hour_name": ids.project_name_for(JOB_ID, "voice"),
    }
    return Job(**{**fields, **changes})


def create(fakes: Fakes, job: Job, answer: CreatedProject | Exception, inline: bool = False) -> Job:
    fakes.store.put(job)
    return creation.create(job, FakeMagicHour(answer), inline=inline)  # type: ignore[arg-type]


def test_the_create_names_the_jobs_tool(fakes: Fakes) -> None:
    magic_hour = FakeMagicHour(CreatedProject("proj_1", 5))
    fakes.store.put(submitting(0))
    creation.create(submitting(0), magic_hour, inline=True)  # type: ignore[arg-type]
    assert magic_hour.tools == ["ai-voice-generator"]
    assert fakes.holds == [(0, 0)]  # a create that went through lifts the pause  # type: ignore[attr-defined]


def test_an_unknown_outcome_returns_the_job_as_stored(fakes: Fakes) -> None:
    # Meanwhile the webhook adopted the project (it recovers jobs by the name tag).
    job = submitting(0)
    fakes.store.put(job.model_copy(update={"status": JobStatus.QUEUED, "project_id": "proj_w"}))
    result = creation.create(job, FakeMagicHour(MagicHourOutcomeUnknown("timeout")), inline=True)  # type: ignore[arg-type]
    assert (result.status, result.project_id) == (JobStatus.QUEUED, "proj_w")
    assert fakes.store.writes == []


def test_a_project_the_webhook_attached_first_is_returned_as_stored(fakes: Fakes) -> None:
    job = submitting(0)
    fakes.store.put(job.model_copy(update={"status": JobStatus.RENDERING, "project_id": "proj_1"}))
    result = creation.create(job, FakeMagicHour(CreatedProject("proj_1", 5)), inline=True)  # type: ignore[arg-type]
    assert result.status is JobStatus.RENDERING
    assert fakes.store.writes == []


def test_a_refusal_that_lost_the_race_returns_the_job_as_stored(fakes: Fakes) -> None:
    job = submitting(0)
    fakes.store.put(job.model_copy(update={"status": JobStatus.QUEUED, "project_id": "proj_w"}))
    result = creation.create(job, FakeMagicHour(MagicHourRejected("bad", 422)), inline=False)  # type: ignore[arg-type]
    assert result.status is JobStatus.QUEUED


@pytest.mark.parametrize("status_code", [400, 409, 499])
def test_any_other_4xx_is_a_refusal(fakes: Fakes, status_code: int) -> None:
    result = create(fakes, submitting(0), MagicHourError("no", status_code))
    assert result.status is JobStatus.FAILED
    assert fakes.store.writes == [("fail", "upstream_rejected", "submit")]


@pytest.mark.parametrize("status_code", [None, 500, 503])
def test_a_failure_that_created_nothing_waits(fakes: Fakes, status_code: int | None) -> None:
    result = create(fakes, submitting(0), MagicHourError("no", status_code))
    assert result.status is JobStatus.WAITING
    assert result.last_create_error == "upstream_unavailable"


@pytest.mark.parametrize("status_code", [301, 501, 502, 505, 520, 524, 599])
def test_any_other_failure_is_an_unknown_outcome_never_sent_again(fakes: Fakes, status_code: int) -> None:
    result = create(fakes, submitting(0), MagicHourError("no", status_code))
    assert (result.status, result.create_outcome_unknown) == (JobStatus.SUBMITTING, True)
    assert fakes.store.writes == [("mark_create_unknown",)]


def test_every_status_from_100_to_599_leaves_the_job_as_the_table_says(fakes: Fakes) -> None:
    """Through the real client and its outcome table: waiting only for 429/500/503."""
    from tests.magic_hour_answers import client_with, response

    seen: dict[str, set[int]] = {}
    for status in range(100, 600):
        client, _ = client_with(response(status, {"id": "proj_1", "credits_charged": 5, "message": "m"}))
        job = submitting(0, job_id=ids.job_id_for_idempotency_key("client-a", f"s{status}"))
        fakes.store.put(job)
        try:
            result = creation.create(job, client, inline=False)
        except Exception as raised:
            seen.setdefault(type(raised).__name__, set()).add(status)
            continue
        seen.setdefault(result.status.value, set()).add(status)
    assert seen.pop("waiting") == {401, 429, 500, 503}  # 401: our key, the operator fixes it
    assert seen.pop("queued") == set(range(200, 300)) - {204}
    assert seen.pop("failed") == set(range(400, 500)) - {401, 429}  # 403 included: plan_restricted
    assert seen.pop("submitting") == {204} | set(range(100, 200)) | set(range(300, 400)) | (
        set(range(500, 600)) - {500, 503}
    )
    assert seen == {}


def test_an_unreadable_key_makes_a_dispatched_job_wait_as_unavailable(fakes: Fakes) -> None:
    result = create(fakes, submitting(0), MagicHourKeyUnavailable("no key"))
    assert (result.status, result.last_create_error) == (JobStatus.WAITING, "upstream_unavailable")


@pytest.mark.parametrize(
    ("error", "message"),
    [
        (creation.MagicHourAuthFailed("no", 401), "Magic Hour rejected this deployment's API key"),
        (MagicHourKeyUnavailable("x"), "the Magic Hour API key could not be read"),
    ],
)
def test_inline_our_own_failure_says_what_happened(fakes: Fakes, error: Exception, message: str) -> None:
    with pytest.raises(creation.CreateNotSent) as caught:
        create(fakes, submitting(0), error, inline=True)
    assert caught.value.message == message
    assert str(caught.value) == message
    assert fakes.store.writes == [("delete_submitting_job",)]
    assert fakes.store.get_job(JOB_ID) is None


def test_a_retry_is_scheduled_after_the_delay(fakes: Fakes) -> None:
    result = create(fakes, submitting(0, fair_key="k"), MagicHourUnavailable("down", 503))
    assert fakes.holds == [(NOW + 2, 1)]  # type: ignore[attr-defined]
    assert fakes.queues.wakeups == [2]
    assert result.fair_key == "k"
    assert result.create_attempts == 1


def test_a_job_without_a_place_in_the_queue_gets_one_of_its_own_client(fakes: Fakes) -> None:
    result = create(fakes, submitting(0), MagicHourUnavailable("down", 503))
    assert result.fair_key is not None
    assert result.fair_key.startswith("000000000003#")
    assert result.fair_key.endswith(JOB_ID)
    assert "T" in result.fair_key  # carries the time it joined the queue
    assert fakes.rounds == ["client-a"]  # type: ignore[attr-defined]


@pytest.mark.parametrize(("left", "delay"), [(5, 5), (1, 1)])
def test_a_retry_never_waits_past_the_deadline(fakes: Fakes, left: int, delay: int) -> None:
    result = create(fakes, submitting(DEADLINE - left), MagicHourRateLimited("slow", 60))
    assert result.status is JobStatus.WAITING
    assert fakes.queues.wakeups == [delay]


def test_at_the_deadline_exactly_the_job_fails(fakes: Fakes) -> None:
    result = create(fakes, submitting(DEADLINE, create_attempts=2), MagicHourRateLimited("slow", 1))
    assert result.status is JobStatus.FAILED
    assert result.error is not None
    assert result.error.message == (
        "Magic Hour kept answering 429 (rate limited) for the whole create deadline (3 attempts); "
        "nothing was created or charged"
    )


@pytest.mark.parametrize(
    ("code", "what"),
    [
        (creation.RATE_LIMITED, "kept answering 429 (rate limited)"),
        (creation.MISCONFIGURED, "kept rejecting this deployment's API key"),
        (creation.UNAVAILABLE, "stayed unavailable"),
    ],
)
def test_a_job_failed_at_the_deadline_says_why(fakes: Fakes, code: str, what: str) -> None:
    job = submitting(0)
    fakes.store.put(job)
    failed = creation.fail_past_deadline(job, code, 4, [JobStatus.SUBMITTING])
    assert failed is not None
    assert failed.error is not None
    assert failed.error.code == code
    assert failed.error.message == (
        f"Magic Hour {what} for the whole create deadline (4 attempts); nothing was created or charged"
    )


class StoreDown(Exception):
    """DynamoDB failing every call from some point on (an outage, throttling)."""


@pytest.mark.parametrize("also_reads_fail", [False, True])
def test_a_project_that_cannot_be_recorded_answers_the_job_as_it_stands(
    fakes: Fakes, monkeypatch: pytest.MonkeyPatch, also_reads_fail: bool
) -> None:
    # Magic Hour made (and charged) the project; the write that records it fails. The request must
    # not fail (a client retrying an error without an Idempotency-Key pays twice): it answers the
    # job as it stands, `submitting`, and the webhook adopts the project by its name tag.
    job = submitting(0)
    fakes.store.put(job)

    def down(*_: Any, **__: Any) -> None:
        raise StoreDown("DynamoDB InternalServerError")

    monkeypatch.setattr(creation.moves.job_store, "attach_project", down)
    if also_reads_fail:  # the whole store is down: the job in hand is the answer
        monkeypatch.setattr(creation.job_store, "get_job", down)
        monkeypatch.setattr(creation.job_store, "mark_create_unknown", down)
    result = creation.create(job, FakeMagicHour(CreatedProject("proj_1", 5)), inline=True)  # type: ignore[arg-type]
    assert (result.status, result.project_id) == (JobStatus.SUBMITTING, None)
    # Where it can still be written, the job shows `submitting` from now on (never `waiting`).
    assert result.create_outcome_unknown is not also_reads_fail
    assert fakes.store.writes == ([] if also_reads_fail else [("mark_create_unknown",)])


def test_a_project_whose_create_pause_cannot_be_lifted_is_still_recorded(
    fakes: Fakes, monkeypatch: pytest.MonkeyPatch
) -> None:
    job = submitting(0)
    fakes.store.put(job)

    def down() -> None:
        raise StoreDown("DynamoDB InternalServerError")

    monkeypatch.setattr(creation.fair_queue, "clear_hold", down)
    result = creation.create(job, FakeMagicHour(CreatedProject("proj_1", 5)), inline=True)  # type: ignore[arg-type]
    assert (result.status, result.project_id) == (JobStatus.QUEUED, "proj_1")
