"""Creating a job: validate everything, write the job, then (and only then) spend credits.

Order matters for money: the job row exists before Magic Hour is called, and Magic Hour gets our
job id inside the project name, so a project created by a request whose answer we never saw can
still be matched to its job (by the webhook, or by the sweep) instead of being created again.
"""

from __future__ import annotations

import hashlib
import json
import math
import string
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

from pydantic import ValidationError

from pipeline import ids
from pipeline.catalogue import Tool, check_input, find_tool
from pipeline.dal import jobs as job_store
from pipeline.logic import callbacks
from pipeline.logic.api_errors import ApiError, validation_failed
from pipeline.magic_hour.client import MagicHourClient
from pipeline.magic_hour.errors import (
    MagicHourAuthFailed,
    MagicHourError,
    MagicHourOutcomeUnknown,
    MagicHourPaymentRequired,
    MagicHourRateLimited,
    MagicHourRejected,
    MagicHourUnavailable,
)
from pipeline.models.api import CreateJobRequest
from pipeline.models.job import Job, JobError, JobStatus
from pipeline.observability import logger, metrics
from pipeline.timeutil import now_iso

MAX_BODY_BYTES = 256 * 1024
IDEMPOTENCY_KEY_MAX = 255
_PRINTABLE = frozenset(string.printable) - frozenset("\t\n\r\x0b\x0c")
UNAVAILABLE_RETRY_AFTER = "5"

# Failures kept on a `failed` job (a retry with the same Idempotency-Key shows them): Magic Hour
# looked at the request and refused it.
_KEPT_FAILURES: dict[str, int] = {"upstream_rejected": 422, "insufficient_credits": 402}


@dataclass(frozen=True)
class Submission:
    client_id: str
    request: CreateJobRequest
    tool: Tool
    fingerprint: str
    idempotency_key: str | None

    def as_idempotency_data(self) -> dict[str, Any]:
        return {
            "client_id": self.client_id,
            "idempotency_key": self.idempotency_key,
            "fingerprint": self.fingerprint,
        }


def parse_submission(
    client_id: str, raw_body: bytes, idempotency_key: str | None, require_https_callbacks: bool
) -> Submission:
    """Everything a create request must pass before any state is written."""
    if len(raw_body) > MAX_BODY_BYTES:
        raise ApiError(413, "payload_too_large", f"request body is over {MAX_BODY_BYTES // 1024} KB")
    if idempotency_key is not None:
        _check_idempotency_key(idempotency_key)
    try:
        document = json.loads(raw_body, parse_constant=_refuse_constant, parse_float=_finite_float)
    except (ValueError, UnicodeDecodeError, RecursionError) as exc:
        raise ApiError(400, "invalid_json", "request body is not valid JSON") from exc
    if not isinstance(document, dict):
        raise ApiError(400, "invalid_json", "request body must be a JSON object")
    if isinstance(document.get("tool"), str) and find_tool(document["tool"]) is None:
        raise ApiError(
            400,
            "unknown_tool",
            f"'{document['tool'][:100]}' is not a Magic Hour tool this deployment accepts; "
            "GET /v1/tools lists them",
        )
    try:
        request = CreateJobRequest.model_validate(document)
    except ValidationError as exc:
        raise validation_failed(
            [{"loc": ["body", *error["loc"]], "msg": error["msg"]} for error in exc.errors()],
            "request body breaks the job schema",
        ) from exc
    tool = find_tool(request.tool)
    assert tool is not None  # checked above, before the envelope
    problem = check_input(tool, request.input)
    if problem is not None:
        raise validation_failed(
            [{"loc": list(problem.loc), "msg": problem.msg}], f"input breaks the schema of '{tool.name}'"
        )
    if request.callback_url is not None:
        _check_callback_url(request.callback_url, require_https_callbacks)
    canonical = json.dumps(request.model_dump(mode="json"), sort_keys=True, separators=(",", ":"))
    return Submission(
        client_id=client_id,
        request=request,
        tool=tool,
        fingerprint=hashlib.sha256(canonical.encode()).hexdigest(),
        idempotency_key=idempotency_key,
    )


def _refuse_constant(name: str) -> None:
    # NaN and Infinity are not JSON; Python's parser accepts them unless told otherwise.
    raise ValueError(f"{name} is not valid JSON")


def _finite_float(text: str) -> float:
    value = float(text)
    if math.isinf(value):  # 1e400 is valid JSON but no number Magic Hour (or JSON out) can take
        raise ValueError(f"number {text[:20]} is out of range")
    return value


def _check_idempotency_key(key: str) -> None:
    if not 1 <= len(key) <= IDEMPOTENCY_KEY_MAX or not set(key) <= _PRINTABLE:
        raise validation_failed(
            [{"loc": ["header", "Idempotency-Key"], "msg": "must be 1..255 printable ASCII characters"}],
            "Idempotency-Key header is invalid",
        )


def _check_callback_url(url: str, require_https: bool) -> None:
    parts = urlsplit(url)
    allowed = ("https",) if require_https else ("https", "http")
    if parts.scheme not in allowed or not parts.hostname or parts.username or parts.password:
        need = "an https URL" if require_https else "an http(s) URL"
        raise validation_failed(
            [{"loc": ["body", "callback_url"], "msg": f"must be {need} with a host and no credentials"}],
            "callback_url is invalid",
        )


def submit(submission: Submission, job_id: str, magic_hour: MagicHourClient) -> Job:
    """Write the job, create the Magic Hour project, record it. Never calls Magic Hour for a job
    that already existed: that is a retry, and the first attempt owns the project."""
    request = submission.request
    now = now_iso()
    project_name = ids.project_name_for(
        job_id, request.name or str(request.input.get("name") or request.tool)
    )
    job = Job(
        job_id=job_id,
        client_id=submission.client_id,
        tool=request.tool,
        kind=submission.tool.kind,
        status=JobStatus.SUBMITTING,
        name=request.name,
        metadata=request.metadata,
        callback_url=request.callback_url,
        created_at=now,
        updated_at=now,
        request_fingerprint=submission.fingerprint,
        magic_hour_name=project_name,
    )
    if not job_store.put_new_job(job):
        existing = job_store.get_job(job_id)
        if existing is None:  # deleted between our write and read: a failed attempt cleaned up
            raise ApiError(409, "idempotency_conflict", "a request with this Idempotency-Key is in flight")
        if existing.request_fingerprint != submission.fingerprint:
            raise idempotency_conflict()
        return existing

    body = {**request.input, "name": project_name}
    try:
        created = magic_hour.create_project(request.tool, body)
    except (MagicHourRejected, MagicHourPaymentRequired) as refusal:
        code = (
            "insufficient_credits" if isinstance(refusal, MagicHourPaymentRequired) else "upstream_rejected"
        )
        metrics.add_metric(name="MagicHourCreateRefused", unit="Count", value=1)
        failed = job_store.fail(
            job, JobError(code=code, message=refusal.message, source="submit"), [JobStatus.SUBMITTING]
        )
        if failed is not None:
            callbacks.announce_end(failed)
        return failed or job
    except MagicHourOutcomeUnknown as unknown:
        # The project may exist; keep the job `submitting` so the webhook (by name) or the sweep can
        # settle it. Creating again here could charge twice.
        logger.warning(
            "Magic Hour create outcome unknown", extra={"job_id": job_id, "error": unknown.message}
        )
        metrics.add_metric(name="MagicHourCreateOutcomeUnknown", unit="Count", value=1)
        raise ApiError(
            503,
            "upstream_unavailable",
            f"Magic Hour did not answer in time; job {job_id} is kept and will be settled. "
            "Retry with the same Idempotency-Key to see it.",
            details=[{"loc": ["job_id"], "msg": job_id}],
            headers={"Retry-After": UNAVAILABLE_RETRY_AFTER},
        ) from unknown
    except MagicHourError as failure:
        # Nothing was created at Magic Hour: drop the job so a retry starts clean.
        job_store.delete_submitting_job(job_id)
        raise _map_transient(failure) from failure

    attached = job_store.attach_project(job, created.project_id, created.credits_charged)
    metrics.add_metric(name="JobsSubmitted", unit="Count", value=1)
    if attached is None:  # the webhook got there first (it recovers jobs by project name)
        return job_store.get_job(job_id) or job
    return attached


def idempotency_conflict() -> ApiError:
    return ApiError(
        409,
        "idempotency_conflict",
        "this Idempotency-Key was used with a different request body",
    )


def _map_transient(failure: MagicHourError) -> ApiError:
    if isinstance(failure, MagicHourRateLimited):
        return ApiError(
            429,
            "upstream_rate_limited",
            f"Magic Hour is rate limiting: {failure.message}",
            headers={"Retry-After": str(failure.retry_after_seconds)},
        )
    if isinstance(failure, MagicHourAuthFailed):
        logger.error("Magic Hour rejected our API key", extra={"status": failure.status_code})
        metrics.add_metric(name="MagicHourAuthFailed", unit="Count", value=1)
        return ApiError(502, "upstream_misconfigured", "Magic Hour rejected this deployment's API key")
    if isinstance(failure, MagicHourUnavailable):
        return ApiError(
            503,
            "upstream_unavailable",
            f"Magic Hour is unavailable: {failure.message}",
            headers={"Retry-After": UNAVAILABLE_RETRY_AFTER},
        )
    return ApiError(
        503,
        "upstream_unavailable",
        f"Magic Hour answered unexpectedly: {failure.message}",
        headers={"Retry-After": UNAVAILABLE_RETRY_AFTER},
    )


def refusal_error(job: Job) -> ApiError | None:
    """The error a job refused at create answers with, on the first request and on every replay."""
    if job.status is JobStatus.FAILED and job.error is not None and job.error.source == "submit":
        status = _KEPT_FAILURES.get(job.error.code)
        if status is not None:
            return ApiError(
                status,
                job.error.code,
                job.error.message,
                details=[{"loc": ["job_id"], "msg": job.job_id}],
            )
    return None
