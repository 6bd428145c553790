"""The job resource callers see (docs/api.md), built from the stored job."""

from __future__ import annotations

from datetime import timedelta
from typing import TypeVar, cast

from pipeline.models.api import CallbackResource, ErrorResource, JobResource, OutputResource
from pipeline.models.job import Job, JobStatus, StoredOutput
from pipeline.platform import strict_json
from pipeline.platform.settings import get_settings
from pipeline.platform.timeutil import epoch_seconds, iso, utc_now
from pipeline.store import outputs

# Beyond Magic Hour's create timeout: the time a request takes to hand over s3:// inputs and
# record the answer (as the submit claim's margin).
_CREATE_ANSWER_MARGIN_SECONDS = 5

T = TypeVar("T")


def _readable(value: T) -> T:
    """Text a JSON answer can carry. Lone surrogates are refused at the edge now, but jobs stored
    before that (or text Magic Hour sent) could hold one, and then every listing that included the
    job failed to serialize: 503 for that client on every page, for ever."""
    if isinstance(value, str) and strict_json.has_surrogate(value):
        # Through UTF-16 with surrogatepass and back: each lone surrogate becomes U+FFFD.
        return cast(T, value.encode("utf-16", "surrogatepass").decode("utf-16", "replace"))
    return value


def shown_status(job: Job, now: int | None = None) -> JobStatus:
    """The status a client sees, forward only (docs/api.md, "Statuses": `waiting -> submitting -> ...`).

    A job holds `submitting` in the store while its create is in flight; an answer of 429, 500
    or 503 then takes it back to `waiting`. So while its create may still turn out to have made
    nothing, a job shows `waiting`: it shows `submitting` only once the create's outcome is
    known to be unknown (the request said so) or can no longer be known to have failed (the
    request that sent it has answered or died by now), and from there it only moves on."""
    if job.status is not JobStatus.SUBMITTING or job.project_id is not None or job.create_outcome_unknown:
        return job.status
    if job.create_sent_at is None:  # stored before the send time was kept
        return job.status
    settings = get_settings()
    in_flight_for = (
        settings.magic_hour_connect_timeout_seconds
        + settings.magic_hour_read_timeout_seconds
        + _CREATE_ANSWER_MARGIN_SECONDS
    )
    now = epoch_seconds() if now is None else now
    return JobStatus.WAITING if now < job.create_sent_at + in_flight_for else job.status


def to_resource(job: Job) -> JobResource:
    ttl = get_settings().presigned_url_ttl_seconds
    expires_at = iso(utc_now() + timedelta(seconds=ttl))
    resource = without_outputs(job)
    resource.outputs = [_output(output, ttl, expires_at) for output in job.stored_outputs()]
    resource.late_outputs = [_output(output, ttl, expires_at) for output in job.stored_late_outputs()]
    return resource


def without_outputs(job: Job, now: int | None = None) -> JobResource:
    """The job resource with empty output lists: for a view that lists the outputs its own way
    (an event carries no presigned URL, pipeline/events/mapping.py)."""
    return JobResource(
        job_id=job.job_id,
        tool=job.tool,
        kind=job.kind,
        status=shown_status(job, now).value,
        project_id=job.project_id,
        credits_charged=job.credits_charged,
        name=_readable(job.name),
        metadata={_readable(key): _readable(value) for key, value in job.metadata.items()},
        callback_url=job.callback_url,
        created_at=job.created_at,
        updated_at=job.updated_at,
        outputs=[],
        late_outputs=[],
        error=ErrorResource(
            code=_readable(job.error.code), message=_readable(job.error.message), source=job.error.source
        )
        if job.error
        else None,
        # A job with a callback_url owes a callback from the start (docs/api.md): `pending` with no
        # attempt until the job ends and the sender records its first one.
        callback=CallbackResource(
            state=job.callback_state or "pending",
            attempts=job.callback_attempts,
            last_error=_readable(job.callback_last_error),
        )
        if job.callback_url
        else None,
        batch_id=job.batch_id,
        custom_id=job.custom_id,
    )


def _output(output: StoredOutput, ttl: int, expires_at: str) -> OutputResource:
    return OutputResource(
        index=output.index,
        s3_uri=outputs.s3_uri(output.s3_key),
        size_bytes=output.size_bytes,
        content_type=output.content_type,
        sha256=output.sha256,
        download_url=outputs.presigned_get(output.s3_key, ttl),
        download_url_expires_at=expires_at,
    )
