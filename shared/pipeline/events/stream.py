"""One batch of jobs-table or clients-table stream records -> their events on the bus, in order.

What goes wrong is reported by sequence number (`batchItemFailures`): Lambda checkpoints just
before the earliest one and delivers it again with all that follows, so an event is never lost.
Those after it that did get out are published again: delivery is at least once, and a consumer
tells a duplicate by `detail.job.job_id`, `status` and `updated_at`.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from pipeline.events import mapping, publish
from pipeline.events.models import BatchEnded, JobStatusChanged
from pipeline.models.tasks import BatchEndTask
from pipeline.platform.observability import logger
from pipeline.platform.timeutil import now_iso
from pipeline.store import batches, callback_queue


def publish_records(records: Sequence[Mapping[str, Any]], bus_name: str) -> list[str]:
    """Publish the events of `records`; the sequence numbers to report as failed (at most the
    earliest one: the rest of the batch follows it anyway)."""
    entries: list[dict[str, Any]] = []
    owners: list[int] = []  # entries[i] reports records[owners[i]]
    for position, record in enumerate(records):
        try:
            detail: JobStatusChanged | BatchEnded | None
            if _from_clients_table(record):
                detail = mapping.batch_record_ended(record)
                if detail is not None and not _queue_batch_end(detail):
                    return _failed(records, entries, owners, stop=position)
            else:
                detail = mapping.job_status_changed(record)
                if detail is not None and not _end_batch_if_done(detail):
                    return _failed(records, entries, owners, stop=position)
        except mapping.NotAJob as error:
            # Not skipped: after the retries the batch goes to the on-failure queue, where the
            # operator sees it (docs/runbook.md#events).
            logger.error("stream record is not a readable job", extra={"reason": str(error)})
            return _failed(records, entries, owners, stop=position)
        if detail is not None:
            entries.append(mapping.entry(detail, bus_name))
            owners.append(position)
    return _failed(records, entries, owners, len(records))


def _queue_batch_end(ended: BatchEnded) -> bool:
    """Queue the ended batch's results file and callback (the callbacks function writes and sends
    them); False when it could not be queued (the record comes again, so no ending is missed)."""
    try:
        callback_queue.send_callback_task(
            BatchEndTask.for_ending(ended.client_id, ended.batch.batch_id, ended.batch.status)
        )
    except Exception:
        logger.exception("could not queue the batch's end; its record comes again")
        return False
    return True


TERMINAL = frozenset({"completed", "failed", "canceled"})


def _end_batch_if_done(changed: JobStatusChanged) -> bool:
    """A batch job's ending: end its batch if every job is terminal now. The move that ended the
    job tries the same right after its write (jobs/moves.py); this covers a function that died
    between the two, since the stream holds the move either way (docs/design.md "Cancel and
    batches"). False when the batch could not be read or written: the record comes again."""
    job = changed.job
    if job.batch_id is None or job.status not in TERMINAL:
        return True
    try:
        batches.end_if_done(changed.client_id, job.batch_id, now_iso())
    except Exception:
        logger.exception("could not end the job's batch; its record comes again")
        return False
    return True


def _from_clients_table(record: Mapping[str, Any]) -> bool:
    # Both tables' streams feed this function; a clients-table item is keyed by `item`.
    keys = (record.get("dynamodb") or {}).get("Keys") or {}
    return "item" in keys


def _failed(
    records: Sequence[Mapping[str, Any]], entries: list[dict[str, Any]], owners: list[int], stop: int
) -> list[str]:
    """Publish `entries`; report the earliest record whose event did not get out, or the record
    at `stop` (unreadable) when every event before it did."""
    failed_entries = publish.put_events(entries) if entries else []
    earliest = owners[failed_entries[0]] if failed_entries else stop
    if earliest >= len(records):
        return []
    if failed_entries:
        logger.warning(
            "events not accepted by EventBridge; their records come again",
            extra={"count": len(failed_entries)},
        )
    return [str(records[earliest]["dynamodb"]["SequenceNumber"])]
