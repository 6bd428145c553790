"""The cap when only Magic Hour's 429s set the limit (create/learned_limit.py): with no limit of
ours every job still holds a slot of the open pool, a 429 sets the learned limit to what renders
then, a create that goes through raises it, and while others wait one client holds at most
ceil(learned limit / clients waiting)."""

from __future__ import annotations

from typing import Any

import pytest

from pipeline.create import claims, creation, learned_limit
from pipeline.magic_hour.client import CreatedProject
from pipeline.magic_hour.errors import MagicHourRateLimited
from pipeline.models.job import Job, JobStatus
from pipeline.platform import ids
from pipeline.platform.time_budget import TimeBudget
from pipeline.platform.timeutil import now_iso
from pipeline.store import fair_queue
from tests.fakes import FakeMagicHour, Fakes, install

NOW = now_iso()  # within the create deadline


@pytest.fixture
def fakes(monkeypatch: pytest.MonkeyPatch) -> Fakes:
    installed = install(monkeypatch)
    monkeypatch.setattr(fair_queue, "next_round_for", lambda client_id: 1)
    monkeypatch.setattr(fair_queue, "hold", lambda: (0, 0))
    monkeypatch.setattr(fair_queue, "set_hold", lambda until, streak: None)
    monkeypatch.setattr(fair_queue, "clear_hold", lambda: None)
    monkeypatch.setattr(fair_queue, "note_dispatched", lambda round_: None)
    return installed


def _job(fakes: Fakes, name: str, client_id: str, status: JobStatus, **fields: Any) -> Job:
    job_id = f"job_{name}"
    return fakes.store.put(
        Job(
            job_id=job_id,
            client_id=client_id,
            tool="ai-voice-generator",
            kind="audio",
            status=status,
            created_at=NOW,
            updated_at=NOW,
            magic_hour_name=ids.project_name_for(job_id, "voice"),
            **fields,
        )
    )


def _rendering(fakes: Fakes, client_id: str, count: int) -> None:
    for n in range(count):
        _job(fakes, f"{client_id}_r{n}", client_id, JobStatus.RENDERING, slot=len(fakes.store.slot_holders()))


def _waiting(fakes: Fakes, client_id: str, round_: int) -> Job:
    return _job(
        fakes,
        f"{client_id}_w{round_}",
        client_id,
        JobStatus.WAITING,
        fair_key=fair_queue.fair_key(round_, NOW, f"job_{client_id}_w{round_}"),
    )


def test_a_429_sets_the_learned_limit_to_what_renders_then(fakes: Fakes) -> None:
    _rendering(fakes, "client-a", 3)
    refused = _job(fakes, "b1", "client-b", JobStatus.SUBMITTING, slot=3)
    result = creation.create(refused, FakeMagicHour(MagicHourRateLimited("busy", 1)), inline=False)  # type: ignore[arg-type]
    assert (result.status, result.slot) == (JobStatus.WAITING, None)
    # Its own slot given back: the three renders filled the plan.
    assert fakes.store.learned_limit == 3


def test_a_create_that_goes_through_raises_the_learned_limit_never_lowers_it(fakes: Fakes) -> None:
    fakes.store.learned_limit = 2
    _rendering(fakes, "client-a", 2)
    sent = _job(fakes, "b1", "client-b", JobStatus.SUBMITTING, slot=2)
    creation.create(sent, FakeMagicHour(CreatedProject("proj_1", 5)), inline=False)  # type: ignore[arg-type]
    assert fakes.store.learned_limit == 3
    fakes.store.jobs = {}
    again = _job(fakes, "b2", "client-b", JobStatus.SUBMITTING, slot=0)
    creation.create(again, FakeMagicHour(CreatedProject("proj_2", 5)), inline=False)  # type: ignore[arg-type]
    assert fakes.store.learned_limit == 3  # one rendering says nothing about the plan's limit


def test_before_any_429_nothing_is_learned(fakes: Fakes) -> None:
    sent = _job(fakes, "b1", "client-b", JobStatus.SUBMITTING, slot=0)
    creation.create(sent, FakeMagicHour(CreatedProject("proj_1", 5)), inline=False)  # type: ignore[arg-type]
    assert fakes.store.learned_limit == 0


def test_the_dispatcher_caps_a_client_against_the_learned_limit(fakes: Fakes) -> None:
    fakes.store.learned_limit = 3
    _rendering(fakes, "client-a", 2)
    _waiting(fakes, "client-a", 4)  # A's next job heads the queue
    _waiting(fakes, "client-b", 5)
    picked = claims.next_due_job(0)
    assert picked is not None
    assert picked.client_id == "client-b"
    fakes.store.learned_limit = 0
    picked = claims.next_due_job(0)
    assert picked is not None
    assert picked.client_id == "client-a"


def test_a_learned_limit_below_what_renders_never_stops_every_client(fakes: Fakes) -> None:
    fakes.store.learned_limit = 2
    _rendering(fakes, "client-a", 2)
    _rendering(fakes, "client-b", 2)
    _waiting(fakes, "client-a", 4)
    _waiting(fakes, "client-b", 5)
    picked = claims.next_due_job(0)
    assert picked is not None
    assert picked.client_id == "client-a"


def test_submit_steps_a_client_at_its_learned_cap_behind_the_others(fakes: Fakes) -> None:
    fakes.store.learned_limit = 3
    _rendering(fakes, "client-a", 2)
    _waiting(fakes, "client-b", 1)
    # A's new job heads no queue (B waits ahead) and A is at its cap anyway: it waits.
    new = _waiting(fakes, "client-a", 0)
    assert claims.claim_now(new) is None
    assert fakes.store.jobs[new.job_id].status is JobStatus.WAITING


def test_a_job_sent_at_once_takes_a_slot_of_the_open_pool(fakes: Fakes) -> None:
    _rendering(fakes, "client-a", 2)
    sent = _job(fakes, "b1", "client-b", JobStatus.SUBMITTING)
    held = claims.count_in_flight(sent)
    assert held.slot is not None
    assert held.slot not in (0, 1)
    assert fakes.store.held_by_client() == {"client-a": 2, "client-b": 1}


def test_the_dispatcher_takes_a_slot_of_the_open_pool_without_a_limit(fakes: Fakes) -> None:
    from pipeline.dispatch import dispatch

    waiting = _waiting(fakes, "client-b", 1)
    report = dispatch.run(FakeMagicHour(CreatedProject("proj_1", 5)), TimeBudget.fixed())  # type: ignore[arg-type]
    assert report.jobs_created == 1
    assert fakes.store.jobs[waiting.job_id].slot is not None
    assert learned_limit.pool(0) == learned_limit.OPEN_POOL
    assert learned_limit.pool(3) == 3
