"""A batch's counts move in the same transaction as each of its jobs' moves (pipeline.store.jobs
with pipeline.store.batch_counts), against a moto server: they always add up to the total and agree
with the jobs' statuses, also when a move is made from a stale read of the job."""

from __future__ import annotations

import uuid

import pytest

from pipeline.models.job import Bookkeeping, Job, JobError, JobStatus
from pipeline.platform.timeutil import now_iso
from pipeline.store import batch_counts, clients
from pipeline.store import jobs as job_store

pytestmark = pytest.mark.usefixtures("pointed_at_moto")

NOTHING = Bookkeeping()


@pytest.fixture
def client_id() -> str:
    return f"client-{uuid.uuid4().hex[:8]}"


def _batch(client_id: str, total: int) -> str:
    batch_id = f"batch_{uuid.uuid4().hex[:26]}"
    clients.table().put_item(
        Item={
            "client_id": client_id,
            "item": batch_counts.batch_item(batch_id),
            "total": total,
            batch_counts.count_field(JobStatus.WAITING): total,
        }
    )
    return batch_id


def _job(client_id: str, batch_id: str | None, custom_id: str) -> Job:
    now = now_iso()
    job = Job(
        job_id=f"job_{uuid.uuid4().hex[:26]}",
        client_id=client_id,
        tool="ai-voice-generator",
        kind="audio",
        status=JobStatus.WAITING,
        created_at=now,
        updated_at=now,
        batch_id=batch_id,
        custom_id=custom_id if batch_id else None,
        fair_key=f"00000001#{now}#{custom_id}",
    )
    assert job_store.put_new_job(job, None)
    return job


def _counts(client_id: str, batch_id: str) -> dict[str, int]:
    item = clients.get_item(client_id, batch_counts.batch_item(batch_id))
    assert item is not None
    return {status: n for status, n in batch_counts.counts_of(item).items() if n}


def _move(job: Job, to: JobStatus, *allowed: JobStatus) -> Job:
    moved = job_store.transition(job, to, allowed or [job.status], NOTHING)
    assert moved is not None
    assert moved.status is to
    return moved


def test_each_move_moves_the_counts_and_they_add_up(client_id: str) -> None:
    batch_id = _batch(client_id, 3)
    a, b, c = (_job(client_id, batch_id, name) for name in "abc")
    a = _move(a, JobStatus.SUBMITTING)
    a = job_store.attach_project(a, "proj-a", 10, NOTHING) or a
    assert _counts(client_id, batch_id) == {"waiting": 2, "queued": 1}
    _move(_move(a, JobStatus.RENDERING), JobStatus.DOWNLOADING)
    _move(b, JobStatus.CANCELED)
    assert job_store.fail(c, JobError(code="x", message="y", source="submit"), [JobStatus.WAITING], NOTHING)
    assert _counts(client_id, batch_id) == {"downloading": 1, "canceled": 1, "failed": 1}


def test_a_move_from_a_stale_read_counts_the_status_the_job_really_left(client_id: str) -> None:
    batch_id = _batch(client_id, 1)
    queued = _move(_move(_job(client_id, batch_id, "a"), JobStatus.SUBMITTING), JobStatus.QUEUED)
    _move(queued, JobStatus.RENDERING)
    # `queued` is stale now: the job is rendering. The move is still made, from rendering.
    _move(queued, JobStatus.DOWNLOADING, JobStatus.QUEUED, JobStatus.RENDERING)
    assert _counts(client_id, batch_id) == {"downloading": 1}


def test_a_refused_move_changes_no_count(client_id: str) -> None:
    batch_id = _batch(client_id, 1)
    job = _move(_job(client_id, batch_id, "a"), JobStatus.CANCELED)
    assert job_store.transition(job, JobStatus.SUBMITTING, [JobStatus.WAITING], NOTHING) is None
    assert _counts(client_id, batch_id) == {"canceled": 1}


def test_a_job_of_its_own_touches_no_batch(client_id: str) -> None:
    _move(_job(client_id, None, "a"), JobStatus.CANCELED)
    items = clients.table().query(
        KeyConditionExpression="client_id = :c", ExpressionAttributeValues={":c": client_id}
    )["Items"]
    assert not [item for item in items if str(item["item"]).startswith(batch_counts.ITEM_PREFIX)]
