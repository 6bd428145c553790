"""Magic Hour's 403 is this job's plan limit, not our key (create/creation.py, issue #26)."""

from __future__ import annotations

from typing import Any

import pytest

from pipeline.create import creation
from pipeline.magic_hour.errors import MagicHourAuthFailed, MagicHourPlanRestricted
from pipeline.models.job import Job, JobStatus
from pipeline.platform.timeutil import now_iso

PLAN = "Your key is valid but the model, resolution, or feature is not available on your plan"


class Refusing:
    def __init__(self, error: Exception) -> None:
        self.error = error

    def create_project(self, tool: str, body: dict[str, Any]) -> Any:
        raise self.error


def _job() -> Job:
    now = now_iso()
    return Job(
        job_id="job_aaaaaaaaaaaaaaaaaaaaaaaaaa",
        client_id="client-a",
        tool="ai-voice-generator",
        kind="audio",
        status=JobStatus.SUBMITTING,
        created_at=now,
        updated_at=now,
        magic_hour_name="voice [job_aaaaaaaaaaaaaaaaaaaaaaaaaa]",
        input={"style": {"prompt": "hi"}},
    )


@pytest.fixture
def seen(monkeypatch: pytest.MonkeyPatch) -> list[tuple[str, Any]]:
    calls: list[tuple[str, Any]] = []

    def fail(job: Job, error: Any, allowed: Any, sets: Any = None) -> Job:
        calls.append(("fail", (error.code, error.message, error.source, list(allowed))))
        return job.model_copy(update={"status": JobStatus.FAILED, "error": error})

    monkeypatch.setattr(creation.moves, "fail", fail)
    monkeypatch.setattr(
        creation.job_store, "delete_submitting_job", lambda job, changes=(): calls.append(("delete", job))
    )
    monkeypatch.setattr(creation, "emit", lambda metric, **dims: calls.append(("emit", dims)))
    monkeypatch.setattr(creation.logger, "error", lambda *a, **k: calls.append(("log_error", a)))
    return calls


@pytest.mark.parametrize("inline", [True, False])
def test_403_fails_the_job_plan_restricted_with_magic_hours_message(seen: list[Any], inline: bool) -> None:
    job = creation.create(_job(), Refusing(MagicHourPlanRestricted(PLAN, 403)), inline=inline)  # type: ignore[arg-type]
    assert job.status is JobStatus.FAILED
    assert job.error is not None
    assert (job.error.code, job.error.message, job.error.source) == ("plan_restricted", PLAN, "submit")
    # Kept failed (a retry with the same key sees it), and no operator alarm: no auth_failed, no error log.
    assert seen == [
        ("emit", {"outcome": "refused"}),
        ("fail", ("plan_restricted", PLAN, "submit", [JobStatus.SUBMITTING])),
    ]


def test_401_still_means_our_key_and_keeps_no_job(seen: list[Any]) -> None:
    with pytest.raises(creation.CreateNotSent) as raised:
        creation.create(_job(), Refusing(MagicHourAuthFailed("Unauthorized", 401)), inline=True)  # type: ignore[arg-type]
    assert raised.value.code == "upstream_misconfigured"
    assert ("emit", {"outcome": "auth_failed"}) in seen
    assert [kind for kind, _ in seen if kind == "delete"] == ["delete"]
