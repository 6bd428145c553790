"""Batches left `validating`: their request's writer died (or ran out of time) after the batch
item was written and before all its jobs were. The sweep function resumes them (CONTRACT §1
"Batches"; docs/design.md "Manifest batches").

The batch item notes how many jobs are written (`jobs_written`) and keeps what its jobs are made
of (the inline request, or the manifest's copy under `batches/`), and every job's id follows from
the batch and its index, so a resumption writes only what is missing and never a job twice; it
then moves the batch to `running` as the request would have. A resumption racing the client's
own retry (same Idempotency-Key) is as harmless: each job's put is conditional, the note only
grows, the move to `running` happens once.

This is the submit stage's code run by the sweep function's handler: the stages never import each
other (pyproject.toml's layering), and resuming is writing a batch.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime

from pipeline.platform.observability import logger
from pipeline.platform.settings import get_settings
from pipeline.platform.timeutil import iso
from pipeline.store import batch_counts
from pipeline.store import batches as batch_store
from pipeline.submit import batches

# Batches looked at in one run; the rest wait for the next (oldest first).
BATCHES_PER_RUN = 20


@dataclass
class ResumeReport:
    resumed: int = 0  # now `running` (or ended)
    unfinished: int = 0  # time ran out: still `validating`, resumed on from its note next time
    errors: int = 0  # could not be resumed now (logged); looked at again next run


def resume_stuck(now: int, time_left: Callable[[], bool]) -> ResumeReport:
    """Resume every batch still `validating` a sweep period (SweepBackoffBaseSeconds, as a quiet
    job is first looked at) after it was created, while `time_left` says a chunk still fits."""
    report = ResumeReport()
    created_before = iso(datetime.fromtimestamp(now - get_settings().sweep_backoff_base_seconds, UTC))
    for key in batch_store.stuck_validating(created_before, BATCHES_PER_RUN):
        if not time_left():
            report.unfinished += 1
            continue
        client_id = str(key["client_id"])
        batch_id = str(key["item"]).removeprefix(batch_counts.ITEM_PREFIX)
        extra = {"batch_id": batch_id, "client_id": client_id}
        try:
            # The index holds keys only; the item itself says how far its writing got.
            item = batch_store.get_batch(client_id, batch_id)
            if item is None or item.get("status") != "validating":
                continue  # resumed or ended since the index was read
            found = batches.resume(item, time_left)
        except Exception:
            # One bad batch must not stop the others (or the sweep): logged, tried again next run.
            logger.exception("could not resume a batch left validating", extra=extra)
            report.errors += 1
            continue
        if found.get("status") == "validating":
            report.unfinished += 1
        else:
            report.resumed += 1
            logger.info("batch left validating resumed", extra={**extra, "status": found.get("status")})
    return report
