"""The job as the pipeline stores it, and the rules of its status."""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from pipeline.models.usage import UsageChange


class JobStatus(StrEnum):
    # Accepted, not yet sent to Magic Hour: over the concurrency limit, or Magic Hour answered the
    # create 429/500/503 (nothing created) and the pipeline retries it.
    WAITING = "waiting"
    SUBMITTING = "submitting"
    QUEUED = "queued"
    RENDERING = "rendering"
    DOWNLOADING = "downloading"
    COMPLETED = "completed"
    FAILED = "failed"
    CANCELED = "canceled"

    @property
    def is_terminal(self) -> bool:
        return self in TERMINAL_STATUSES


TERMINAL_STATUSES = frozenset({JobStatus.COMPLETED, JobStatus.FAILED, JobStatus.CANCELED})
# While a job is in one of these, Magic Hour may be rendering it: it counts against the plan's
# concurrency (Magic Hour counts its projects `queued` or `rendering`; `submitting` may be one).
SLOT_STATUSES = frozenset({JobStatus.SUBMITTING, JobStatus.QUEUED, JobStatus.RENDERING})


@dataclass(frozen=True)
class Bookkeeping:
    """What a move writes beside the new status, as jobs/bookkeeping.py decides it: the job store
    sets and removes these fields exactly as given, and gives back the job's slot when told to."""

    sets: dict[str, Any] = field(default_factory=dict)
    removes: tuple[str, ...] = ()
    release_slot: bool = False
    # What the move does to its client's usage (jobs/reservations.py), in the same transaction;
    # the move happens only while the job's money fields are still as `expects` says (None: absent).
    usage: tuple[UsageChange, ...] = ()
    expects: tuple[tuple[str, Any], ...] = ()


Kind = Literal["video", "image", "audio"]
ErrorSource = Literal["submit", "magic_hour", "download"]
# Whose failure it is when a job fails for no reason of its own (the sweep gives up on it, an
# operator fails it), by where the job stood: before Magic Hour had it, ours (submit); while it
# downloads, the download's (rendered and charged for good: no refund); else Magic Hour's.
_SOURCE_FOR_STATUS: dict[JobStatus, ErrorSource] = {
    JobStatus.WAITING: "submit",
    JobStatus.SUBMITTING: "submit",
    JobStatus.DOWNLOADING: "download",
}


def failure_source(status: JobStatus) -> ErrorSource:
    """Whose failure ending a job that stands at `status` is (the sweep's and ops' one rule)."""
    return _SOURCE_FOR_STATUS.get(status, "magic_hour")


class JobError(BaseModel):
    code: str
    message: str
    source: ErrorSource


class StoredOutput(BaseModel):
    """One output file once it is safely in S3."""

    index: int
    s3_key: str
    size_bytes: int
    sha256: str
    content_type: str
    stored_at: str


class Job(BaseModel):
    model_config = ConfigDict(extra="ignore")

    job_id: str
    client_id: str
    tool: str
    kind: Kind
    status: JobStatus
    project_id: str | None = None
    credits_charged: int | None = None
    name: str | None = None
    metadata: dict[str, Any] = Field(default_factory=dict)
    callback_url: str | None = None
    created_at: str
    updated_at: str
    outputs: dict[str, StoredOutput] = Field(default_factory=dict)
    output_count: int | None = None
    error: JobError | None = None
    request_fingerprint: str | None = None
    magic_hour_name: str | None = None
    downloads_queued: bool = False
    # The output whose download failed the job: only its own (redriven) message may revive it.
    failed_output_index: int | None = None
    # Set by the operator's redrive (`python -m ops redrive download`) for that output: only then
    # may its message revive the failed job (a terminal status is otherwise final).
    redrive_output_index: int | None = None
    # Epoch seconds of the last failed download attempt that will be retried: the sweep leaves
    # alone the outputs of a job whose messages are still retrying.
    download_attempted_at: int | None = None
    sweep_checks: int = 0
    callback_state: Literal["pending", "delivered", "failed"] | None = None
    callback_attempts: int = 0
    callback_last_error: str | None = None
    callback_queued: bool = False
    # The tool input as the client sent it (s3:// values kept): a `waiting` job is created later.
    input: dict[str, Any] = Field(default_factory=dict)
    # The Magic Hour concurrency slot this job holds while Magic Hour may be rendering it
    # (submitting, queued, rendering); None when it holds none (no limit, or released).
    slot: int | None = None
    # Place in the fair queue while `waiting`: round-robin between clients, FIFO within one.
    fair_key: str | None = None
    # Creates Magic Hour refused with 429/500/503 (nothing created), and the last reason.
    create_attempts: int = 0
    last_create_error: str | None = None
    # A project Magic Hour reported for this job after it had already failed: charged, so its
    # outputs are stored, but listed apart and the job stays failed (a terminal status is final).
    late_project_id: str | None = None
    late_output_count: int | None = None
    late_credits_charged: int | None = None
    late_outputs: dict[str, StoredOutput] = Field(default_factory=dict)
    # Epoch seconds until which the request that wrote this job may still be creating its project:
    # a duplicate with the same Idempotency-Key waits for it (submit/idempotency.py).
    # Removed when that request answers; a crashed one's simply runs out.
    submit_claim_until: int | None = None
    # Epoch seconds when the job last moved to `submitting`, i.e. when its create was sent: the
    # sweep's grace for an unconfirmed create runs from here, not from the job's acceptance.
    create_sent_at: int | None = None
    # The create was answered with an unknown outcome (502, 504, 520, a timeout, a cut answer):
    # from then on the job shows `submitting` (jobs/job_view.py) until its webhook or the sweep.
    create_outcome_unknown: bool = False
    # Money (jobs/reservations.py): the estimate this job holds of its client's budget until its
    # charge is known, the UTC day its reservation and charge count on, and the credits counted as
    # charged for it there (None: nothing counted; 0 while a recorded project's charge is unknown).
    reserved_credits: int | None = None
    budget_day: str | None = None
    counted_credits: int | None = None
    # The batch this job belongs to (POST /v1/batches), and its id within it; None for a job of
    # its own. A batch job's every move also moves its batch's counts (store/jobs.py).
    batch_id: str | None = None
    custom_id: str | None = None
    # Its place in the batch (the manifest's line - 1, or the inline list's index), from 0: the
    # order of the batch's results file; its id is ids.job_id_in_batch(batch_id, ordinal).
    ordinal: int | None = None

    def stored_outputs(self) -> list[StoredOutput]:
        return sorted(self.outputs.values(), key=lambda output: output.index)

    def stored_late_outputs(self) -> list[StoredOutput]:
        return sorted(self.late_outputs.values(), key=lambda output: output.index)
