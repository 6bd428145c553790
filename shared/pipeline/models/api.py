"""HTTP payloads of our own API (docs/api.md)."""

from __future__ import annotations

import json
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, field_validator

METADATA_MAX_BYTES = 2048
NAME_MAX_CHARS = 100


class CreateJobRequest(BaseModel):
    """The envelope of `POST /v1/jobs`; `input` is checked against the tool's own schema later."""

    model_config = ConfigDict(extra="forbid")

    tool: str = Field(min_length=1, max_length=100)
    input: dict[str, Any]
    name: str | None = Field(default=None, max_length=NAME_MAX_CHARS)
    callback_url: str | None = Field(default=None, max_length=2048)
    metadata: dict[str, Any] = Field(default_factory=dict)

    @field_validator("metadata")
    @classmethod
    def _flat_and_small(cls, value: dict[str, Any]) -> dict[str, Any]:
        return flat_metadata(value)


def flat_metadata(value: dict[str, Any]) -> dict[str, Any]:
    """A job's or a batch's `metadata`: a flat JSON object of at most 2 KB."""
    for key, item in value.items():
        if isinstance(item, dict | list):
            raise ValueError(f"metadata must be a flat object; '{key}' holds a nested value")
    if len(json.dumps(value, separators=(",", ":")).encode()) > METADATA_MAX_BYTES:
        raise ValueError(f"metadata must be at most {METADATA_MAX_BYTES} bytes as JSON")
    return value


class OutputResource(BaseModel):
    index: int
    s3_uri: str
    size_bytes: int
    content_type: str
    sha256: str
    download_url: str | None = None
    download_url_expires_at: str | None = None


class ErrorResource(BaseModel):
    code: str
    message: str
    source: str


class CallbackResource(BaseModel):
    """Delivery of the job's callback: `pending` until a 2xx (`delivered`) or the retries run out
    (`failed`)."""

    state: str
    attempts: int
    last_error: str | None = None


class JobResource(BaseModel):
    job_id: str
    tool: str
    kind: str
    status: str
    project_id: str | None
    credits_charged: int | None
    name: str | None
    metadata: dict[str, Any]
    callback_url: str | None
    created_at: str
    updated_at: str
    outputs: list[OutputResource]
    error: ErrorResource | None
    callback: CallbackResource | None = None
    # Outputs of a project Magic Hour completed after the job had already failed (the job stays
    # failed; the credits were spent, so the files are kept).
    late_outputs: list[OutputResource] = Field(default_factory=list)
    # A batch job's batch and its custom_id there (POST /v1/batches); null for a job of its own.
    batch_id: str | None = None
    custom_id: str | None = None


class BatchCountsResource(BaseModel):
    total: int
    waiting: int
    submitting: int
    queued: int
    rendering: int
    downloading: int
    completed: int
    failed: int
    canceled: int


class BatchResource(BaseModel):
    batch_id: str
    status: str
    counts: BatchCountsResource
    credits_charged: int | None
    metadata: dict[str, Any]
    created_at: str
    updated_at: str
    ended_at: str | None
    results_url: str | None
    errors: list[dict[str, Any]] | None
    callback: CallbackResource | None


class BatchList(BaseModel):
    batches: list[BatchResource]
    next_cursor: str | None


class JobList(BaseModel):
    jobs: list[JobResource]
    next_cursor: str | None


class ToolResource(BaseModel):
    tool: str
    kind: str
    required: list[str]


class ToolList(BaseModel):
    tools: list[ToolResource]


class ErrorDetail(BaseModel):
    loc: list[str | int]
    msg: str


class ErrorInfo(BaseModel):
    code: str
    message: str
    details: list[ErrorDetail] | None = None


class ErrorBody(BaseModel):
    """Every error answer (docs/api.md)."""

    error: ErrorInfo


class CreateUploadRequest(BaseModel):
    """The body of `POST /v1/uploads`: the file's extension (checked against what Magic Hour
    accepts) and, optionally, a Content-Type to sign into the upload URL."""

    model_config = ConfigDict(extra="forbid")

    extension: str = Field(min_length=1, max_length=10)
    content_type: str | None = Field(
        default=None,
        max_length=127,
        pattern=r"^[A-Za-z0-9][A-Za-z0-9!#$&^_.+-]*/[A-Za-z0-9][A-Za-z0-9!#$&^_.+-]*$",
    )


class UploadResource(BaseModel):
    """Where to PUT the bytes (`upload_url`, with `upload_headers`), and the `file_path` to use as
    a `*_file_path` input afterwards."""

    file_path: str
    upload_url: str
    expires_at: str
    upload_headers: dict[str, str] = Field(default_factory=dict)


class CallbackSecret(BaseModel):
    """The calling client's own callback signing secret (Standard Webhooks format)."""

    secret: str


class UsageReport(BaseModel):
    """`GET /v1/usage`: what one client was charged on one UTC day (failed jobs excluded)."""

    day: str
    credits_charged: int
    jobs: int
    daily_credit_budget: int | None
