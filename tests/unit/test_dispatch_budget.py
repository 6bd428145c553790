"""The dispatcher never sends a waiting job whose client has spent its daily budget meanwhile."""

from __future__ import annotations

from typing import Any

import pytest

from pipeline.dispatch import dispatch
from pipeline.jobs import budgets
from pipeline.models.job import Job, JobStatus
from pipeline.platform.timeutil import now_iso


def _waiting() -> Job:
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
    )


@pytest.mark.parametrize(("spent", "sent"), [(499, True), (500, False)])
def test_a_waiting_job_over_budget_fails_instead_of_being_created(
    monkeypatch: pytest.MonkeyPatch, spent: int, sent: bool
) -> None:
    job = _waiting()
    failures: list[Any] = []
    claims: list[str] = []
    queue = [job]
    monkeypatch.setattr(dispatch.slots, "hold", lambda: (0, 0))
    monkeypatch.setattr(dispatch, "next_due_job", lambda: queue.pop() if queue else None)
    monkeypatch.setattr(dispatch, "get_settings", lambda: type("S", (), {"magic_hour_max_concurrency": 0})())
    monkeypatch.setattr(budgets.usage, "budget_of", lambda client_id: 500)
    monkeypatch.setattr(
        budgets.usage, "usage_of", lambda client_id, day: type("U", (), {"credits_charged": spent})()
    )
    monkeypatch.setattr(dispatch.moves, "fail", lambda job, error, allowed: failures.append((error, allowed)))
    monkeypatch.setattr(dispatch, "claim", lambda job, slot: claims.append(job.job_id))
    report = dispatch.run(None, lambda: True)  # type: ignore[arg-type]
    assert bool(claims) is sent
    if sent:
        assert failures == []
    else:
        ((error, allowed),) = failures
        assert (error.code, error.source, allowed) == ("budget_exceeded", "submit", [JobStatus.WAITING])
        assert report.outcomes == {"budget_exceeded": 1}
