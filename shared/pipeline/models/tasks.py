"""Messages the pipeline puts on its own queues."""

from __future__ import annotations

from pydantic import BaseModel, Field

from pipeline.models.job import Kind


class DownloadTask(BaseModel):
    """Copy one Magic Hour output into S3."""

    job_id: str
    project_id: str
    kind: Kind
    index: int = Field(ge=0)
    url: str
    expires_at: str | None = None
    # An output of a project Magic Hour completed after the job had failed: stored under the job's
    # `late_outputs`, the job stays failed.
    late: bool = False


class CallbackTask(BaseModel):
    """Tell a client its job ended. `webhook_id` stays the same across retries, so the receiver
    can drop repeats (Standard Webhooks)."""

    job_id: str
    webhook_id: str
    # The job's client: the message's fair-queue group and its callback lane. Messages queued
    # before it was carried have none; the job names the client then.
    client_id: str | None = None
    # Attempts made before this message was sent: a message over its client's lane is sent again
    # (store/callback_queue.py) carrying what its earlier copies attempted, so the wait in the
    # lane never counts as an attempt and the retry schedule stays the same.
    prior_attempts: int = Field(default=0, ge=0)


class BatchEndTask(BaseModel):
    """A batch ended: write its results file, then tell its client (when it has a callback URL).
    Queued on the callback queue from the clients table's stream, so no ending is missed."""

    client_id: str
    batch_id: str
    webhook_id: str

    @classmethod
    def for_ending(cls, client_id: str, batch_id: str, status: str) -> BatchEndTask:
        # The same webhook id on every copy of the task: receivers drop repeats.
        return cls(client_id=client_id, batch_id=batch_id, webhook_id=f"msg_{batch_id}_{status}")
