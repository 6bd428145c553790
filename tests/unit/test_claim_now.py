"""A new submission never takes a freed slot ahead of another client's waiting job, whatever sets
the limit (create/claims.py claim_now): with a job of anyone else in the fair queue it queues, even
when its own round would head the queue (a client's first job gets the round being dispatched), and
the dispatcher hands the slot out in fair order. Alone in the queue it is sent at once."""

from __future__ import annotations

import pytest

from pipeline.create import claims
from pipeline.magic_hour import account
from pipeline.models.job import Job, JobStatus
from pipeline.platform import ids
from pipeline.platform.timeutil import now_iso
from pipeline.store import fair_queue
from tests.fakes import Fakes, install

NOW = now_iso()


@pytest.fixture
def fakes(monkeypatch: pytest.MonkeyPatch) -> Fakes:
    installed = install(monkeypatch)
    monkeypatch.setattr(fair_queue, "hold", lambda: (0, 0))
    monkeypatch.setattr(fair_queue, "note_dispatched", lambda round_: None)
    return installed


def _waiting(fakes: Fakes, name: str, client_id: str, round_: int) -> Job:
    job_id = f"job_{name}"
    return fakes.store.put(
        Job(
            job_id=job_id,
            client_id=client_id,
            tool="ai-voice-generator",
            kind="audio",
            status=JobStatus.WAITING,
            created_at=NOW,
            updated_at=NOW,
            magic_hour_name=ids.project_name_for(job_id, "voice"),
            fair_key=fair_queue.fair_key(round_, NOW, job_id),
        )
    )


@pytest.mark.parametrize(
    ("limit", "learned"),
    [(0, 0), (0, 2), (3, 0)],
    ids=["429-hold-only", "learned-limit", "own-limit"],
)
def test_a_new_job_heading_the_queue_still_waits_while_another_clients_job_waits(
    fakes: Fakes, monkeypatch: pytest.MonkeyPatch, limit: int, learned: int
) -> None:
    monkeypatch.setattr(account, "concurrency_limit", lambda *_: limit)
    fakes.store.learned_limit = learned
    _waiting(fakes, "a1", "client-a", 5)  # A's job waits (refused 429 before, or no slot)
    # B's first job gets the round dispatched now, below A's: it heads the queue, slots are free.
    new = _waiting(fakes, "b1", "client-b", 4)
    assert claims.claim_now(new) is None
    assert fakes.store.jobs[new.job_id].status is JobStatus.WAITING
    # The dispatcher, not submit, hands out the next slot, in fair order.
    picked = claims.next_due_job(limit)
    assert picked is not None
    assert picked.job_id == new.job_id


@pytest.mark.parametrize("limit", [0, 3])
def test_a_new_job_alone_in_the_queue_is_sent_at_once(
    fakes: Fakes, monkeypatch: pytest.MonkeyPatch, limit: int
) -> None:
    monkeypatch.setattr(account, "concurrency_limit", lambda *_: limit)
    new = _waiting(fakes, "b1", "client-b", 0)
    claimed = claims.claim_now(new)
    assert claimed is not None
    assert claimed.status is JobStatus.SUBMITTING
    assert claimed.slot is not None  # a slot of ours, or of the open pool (it only counts)
