"""Claiming a waiting job for its create with a Magic Hour slot (pipeline.store.jobs.claim_for_create)
against a moto server: the slot and the move in one transaction, and the move's bookkeeping written
as every other move writes it (the sweep watches the job afresh from its claim)."""

from __future__ import annotations

import uuid
from typing import Any

import pytest

from pipeline.jobs import bookkeeping
from pipeline.models.job import Job, JobStatus
from pipeline.platform.timeutil import epoch_seconds
from pipeline.store import job_items, slots
from pipeline.store import jobs as job_store

pytestmark = pytest.mark.usefixtures("pointed_at_moto")
BACKED_OFF = 6 * 3600  # a job that waited long: the sweep's back-off had pushed its check far out


def _waiting_job() -> Job:
    return Job(
        job_id=f"job_{uuid.uuid4().hex[:26]}",
        client_id="client-claims",
        tool="text-to-video",
        kind="video",
        status=JobStatus.WAITING,
        created_at="2026-12-01T10:00:00.000Z",
        updated_at="2026-12-01T10:00:00.000Z",
        fair_key=f"00000001#{uuid.uuid4().hex}",
        sweep_checks=7,
    )


def _item(job_id: str) -> dict[str, Any]:
    return dict(job_items.table().get_item(Key={"job_id": job_id}, ConsistentRead=True)["Item"])


def _claim(job: Job, slot: int) -> Job | None:
    return job_store.claim_for_create(
        job, slot, bookkeeping.for_move(job, JobStatus.SUBMITTING, epoch_seconds())
    )


def test_a_claim_takes_the_slot_and_is_watched_from_the_claim() -> None:
    job = _waiting_job()
    assert job_store.put_new_job(job, next_check_at=epoch_seconds() + BACKED_OFF)
    before = epoch_seconds()
    claimed = _claim(job, 41)
    assert claimed is not None
    assert (claimed.status, claimed.slot, claimed.sweep_checks) == (JobStatus.SUBMITTING, 41, 0)
    item = _item(job.job_id)
    assert "waiting" not in item  # out of the fair queue's index
    assert item["active"] == job_store.ACTIVE  # in the sweep's index, looked at once quiet
    assert bookkeeping.first_check_at(before) <= int(item["next_check_at"]) <= bookkeeping.first_check_at()
    assert slots.holders().get(41) == job.job_id


def test_a_slot_another_job_holds_is_not_taken_and_the_job_keeps_waiting() -> None:
    first, second = _waiting_job(), _waiting_job()
    for job in (first, second):
        assert job_store.put_new_job(job, next_check_at=None)
    assert _claim(first, 42) is not None
    assert _claim(second, 42) is None
    item = _item(second.job_id)
    assert (item["status"], "slot" in item, "waiting" in item) == ("waiting", False, True)
    assert slots.holders().get(42) == first.job_id
