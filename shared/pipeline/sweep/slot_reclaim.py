"""Slots whose holder no longer holds them, given back by the sweep."""

from __future__ import annotations

from pipeline.jobs import moves
from pipeline.models.job import SLOT_STATUSES
from pipeline.platform.observability import SLOTS_RECLAIMED, emit, logger
from pipeline.store import jobs as job_store
from pipeline.store import slots


def reclaim_stale_slots() -> int:
    """Give back slots whose holder no longer holds them (its job vanished, or moved on without
    the slot — neither happens by design, since slots move in the same transaction as jobs)."""
    reclaimed = 0
    for index, job_id in slots.holders().items():
        job = job_store.get_job(job_id)
        if job is not None and job.slot == index and job.status in SLOT_STATUSES:
            continue
        if slots.reclaim(index, job_id):
            reclaimed += 1
            logger.warning("reclaimed a stale Magic Hour slot", extra={"job_id": job_id, "slot": index})
            emit(SLOTS_RECLAIMED)
    if reclaimed:
        moves.wake_dispatcher()
    return reclaimed
