"""The events' detail, as consumers read it (docs/schemas/ holds their JSON Schema).

The job in an event is the job resource of the API without its download URLs: an event is kept in
archives and read by other accounts, so it must carry nothing that grants access. Both are
models/api.py's `JobFields`, each with its own output type.
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict

from pipeline.models.api import CallbackResource, JobFields, StoredOutputFields

SOURCE = "magic-hour-pipeline"
JOB_STATUS_CHANGED = "Job Status Changed"
BATCH_ENDED = "Batch Ended"


class EventOutput(StoredOutputFields):
    """A stored output, by where it is: no presigned URL."""

    model_config = ConfigDict(extra="forbid")


class EventJob(JobFields[EventOutput]):
    model_config = ConfigDict(extra="forbid")


class JobStatusChanged(BaseModel):
    """detail of `Job Status Changed`. `previous_status` is null for a job's first status."""

    model_config = ConfigDict(extra="forbid")

    job: EventJob
    previous_status: str | None
    client_id: str


class BatchCounts(BaseModel):
    model_config = ConfigDict(extra="forbid")

    total: int
    waiting: int
    submitting: int
    queued: int
    rendering: int
    downloading: int
    completed: int
    failed: int
    canceled: int


class EventBatch(BaseModel):
    """The batch resource (CONTRACT §1 "Batches") without `results_url`, a presigned GET."""

    model_config = ConfigDict(extra="forbid")

    batch_id: str
    status: str
    counts: BatchCounts
    credits_charged: int | None
    metadata: dict[str, Any]
    created_at: str
    updated_at: str
    ended_at: str | None
    errors: list[dict[str, Any]] | None = None
    callback: CallbackResource | None = None


class BatchEnded(BaseModel):
    """detail of `Batch Ended`."""

    model_config = ConfigDict(extra="forbid")

    batch: EventBatch
    client_id: str


DETAIL_MODELS: dict[str, type[BaseModel]] = {JOB_STATUS_CHANGED: JobStatusChanged, BATCH_ENDED: BatchEnded}
