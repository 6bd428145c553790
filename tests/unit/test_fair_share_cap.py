"""The per-client cap (create/fair_share.py): while other clients wait, one client holds at most
ceil(limit / clients waiting) slots; and the dispatcher's pick steps over a client at its cap."""

from __future__ import annotations

import itertools
from dataclasses import dataclass

import pytest

from pipeline.create import claims, fair_share
from pipeline.models.job import Job, JobStatus
from pipeline.store import fair_queue, slots
from tests.fakes import Fakes, install


@dataclass(frozen=True)
class Entry:
    client_id: str
    job_id: str = ""


@pytest.mark.parametrize(
    ("limit", "clients", "expected"),
    [(3, 2, 2), (5, 2, 3), (4, 2, 2), (3, 3, 1), (3, 5, 1), (10, 3, 4), (3, 1, None), (0, 4, None)],
)
def test_the_cap_is_the_limit_shared_by_the_clients_waiting(
    limit: int, clients: int, expected: int | None
) -> None:
    assert fair_share.cap(limit, clients) == expected


def test_a_client_at_its_cap_leaves_the_next_slot_to_another_waiting_client() -> None:
    head = [Entry("a"), Entry("a"), Entry("b")]
    assert fair_share.at_cap("a", head, {"a": 2}, 3)
    assert not fair_share.at_cap("b", head, {"a": 2}, 3)
    assert fair_share.within_cap(head, {"a": 2}, 3) == [Entry("b")]
    # Under its cap, fair order stands.
    assert fair_share.within_cap(head, {"a": 1}, 3) == head


def test_a_client_alone_in_the_queue_may_take_every_slot() -> None:
    assert not fair_share.at_cap("a", [Entry("a")], {"a": 4}, 5)
    # A client holding slots but waiting for nothing is no competitor.
    assert fair_share.within_cap([Entry("a")], {"a": 4, "b": 0}, 5) == [Entry("a")]


def test_the_asking_client_counts_as_waiting() -> None:
    # Submit asks for a new job the index may not show yet.
    assert fair_share.at_cap("a", [Entry("b")], {"a": 2}, 3)


def test_with_a_slot_free_some_waiting_client_is_always_within_its_cap() -> None:
    limit = 5
    clients = ["a", "b", "c"]
    for held in itertools.product(range(limit + 1), repeat=len(clients)):
        if sum(held) >= limit:
            continue
        holding = dict(zip(clients, held, strict=True))
        for waiting in range(1, len(clients) + 1):
            head = [Entry(client) for client in clients[:waiting]]
            assert fair_share.within_cap(head, holding, limit), (holding, waiting)


def _waiting(fakes: Fakes, client_id: str, round_: int) -> Job:
    job_id = f"job_{client_id}_{round_}"
    now = "2026-01-01T00:00:00.000Z"
    return fakes.store.put(
        Job(
            job_id=job_id,
            client_id=client_id,
            tool="ai-voice-generator",
            kind="audio",
            status=JobStatus.WAITING,
            created_at=now,
            updated_at=now,
            fair_key=fair_queue.fair_key(round_, now, job_id),
        )
    )


def _client_of(job: Job | None) -> str | None:
    return None if job is None else job.client_id


def test_the_dispatcher_steps_over_a_client_at_its_cap(monkeypatch: pytest.MonkeyPatch) -> None:
    fakes = install(monkeypatch)
    held = {"client-a": 2}
    monkeypatch.setattr(slots, "held_by_client", lambda: held)
    _waiting(fakes, "client-a", 4)  # A's long renders hold 2 of 3 slots; its next job heads the queue
    beta = _waiting(fakes, "client-b", 5)
    assert _client_of(claims.next_due_job(3)) == beta.client_id
    held["client-a"] = 1
    assert _client_of(claims.next_due_job(3)) == "client-a"
    # No limit of ours: nothing to cap.
    held["client-a"] = 9
    assert _client_of(claims.next_due_job(0)) == "client-a"
