"""The job resource callers see (CONTRACT §1), built from the stored job."""

from __future__ import annotations

from datetime import timedelta

from pipeline.dal import outputs
from pipeline.models.api import CallbackResource, ErrorResource, JobResource, OutputResource
from pipeline.models.job import Job, StoredOutput
from pipeline.settings import get_settings
from pipeline.timeutil import iso, utc_now


def to_resource(job: Job) -> JobResource:
    ttl = get_settings().presigned_url_ttl_seconds
    expires_at = iso(utc_now() + timedelta(seconds=ttl))
    return JobResource(
        job_id=job.job_id,
        tool=job.tool,
        kind=job.kind,
        status=job.status.value,
        project_id=job.project_id,
        credits_charged=job.credits_charged,
        name=job.name,
        metadata=job.metadata,
        callback_url=job.callback_url,
        created_at=job.created_at,
        updated_at=job.updated_at,
        outputs=[_output(output, ttl, expires_at) for output in job.stored_outputs()],
        late_outputs=[_output(output, ttl, expires_at) for output in job.stored_late_outputs()],
        error=ErrorResource(**job.error.model_dump()) if job.error else None,
        # A job with a callback_url owes a callback from the start (CONTRACT §1): `pending` with no
        # attempt until the job ends and the sender records its first one.
        callback=CallbackResource(
            state=job.callback_state or "pending",
            attempts=job.callback_attempts,
            last_error=job.callback_last_error,
        )
        if job.callback_url
        else None,
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
