"""Everything an inline batch (`POST /v1/batches` with `jobs`) must pass before anything is
written (CONTRACT §1 "Batches").

All or nothing: every job is validated as `POST /v1/jobs` validates one (submit/submission.py),
and one bad job refuses the whole batch with `422 validation_failed`, whose `details[].loc` name
the job as `"jobs", i` (its index from 0) between `"body"` and the field's own path. Every
problem of every job is reported (up to MAX_DETAILS), so a client fixes a batch in one round.
"""

from __future__ import annotations

import hashlib
import json
import re
from dataclasses import dataclass
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from pipeline.jobs import errors
from pipeline.magic_hour import rates
from pipeline.models.api import flat_metadata
from pipeline.submit.validation import Submission, check_callback_url, parse_body, submission_of

MAX_INLINE_JOBS = 500
MAX_DETAILS = 100
CUSTOM_ID = re.compile(r"[A-Za-z0-9_.:-]{1,64}\Z")
CUSTOM_ID_RULE = "must be 1..64 characters of A-Z a-z 0-9 _ . : -"


class BatchEnvelope(BaseModel):
    """The batch's own fields; each job is checked on its own after this."""

    model_config = ConfigDict(extra="forbid")

    jobs: list[Any] | None = Field(default=None, min_length=1, max_length=MAX_INLINE_JOBS)
    manifest: str | None = Field(default=None, min_length=1, max_length=1024)
    callback_url: str | None = Field(default=None, max_length=2048)
    metadata: dict[str, Any] = Field(default_factory=dict)

    @field_validator("metadata")
    @classmethod
    def _flat_and_small(cls, value: dict[str, Any]) -> dict[str, Any]:
        return flat_metadata(value)


@dataclass(frozen=True)
class BatchItem:
    custom_id: str
    submission: Submission
    estimate: int


@dataclass(frozen=True)
class ManifestRef:
    """A manifest upload as validated: where, which version (ETag), its lines and estimate."""

    bucket: str
    key: str
    etag: str
    total: int
    estimate: int
    digest: str


@dataclass(frozen=True)
class BatchSubmission:
    client_id: str
    items: tuple[BatchItem, ...]
    callback_url: str | None
    metadata: dict[str, Any]
    fingerprint: str
    idempotency_key: str | None
    # Inline: the request's body, kept with the batch until every job is written, so any
    # resumption (a retry, the sweep) writes exactly these jobs.
    raw_body: bytes | None = None
    # Manifest batches: the validated upload; their items are read again as they are written.
    manifest: ManifestRef | None = None

    @property
    def total(self) -> int:
        return self.manifest.total if self.manifest else len(self.items)

    @property
    def estimate(self) -> int:
        """The batch's estimated cost, checked against the budget as a whole."""
        if self.manifest:
            return self.manifest.estimate
        return sum(item.estimate for item in self.items)


def parse_envelope(
    raw_body: bytes, idempotency_key: str | None, require_https_callbacks: bool
) -> BatchEnvelope:
    """The batch's own fields, checked: exactly one of `jobs` and `manifest`, its callback URL."""
    document = parse_body(raw_body, idempotency_key)
    try:
        envelope = BatchEnvelope.model_validate(document)
    except ValidationError as exc:
        raise errors.ValidationFailed(
            [{"loc": ["body", *error["loc"]], "msg": error["msg"]} for error in exc.errors()],
            "request body breaks the batch schema",
        ) from exc
    if (envelope.jobs is None) == (envelope.manifest is None):
        raise errors.ValidationFailed(
            [
                {
                    "loc": ["body"],
                    "msg": "must hold exactly one of 'jobs' (1..500 jobs) or 'manifest' (s3://...)",
                }
            ],
            "request body breaks the batch schema",
        )
    if envelope.callback_url is not None:
        check_callback_url(envelope.callback_url, require_https_callbacks)
    return envelope


def parse_inline_batch(
    client_id: str, raw_body: bytes, idempotency_key: str | None, require_https_callbacks: bool
) -> BatchSubmission:
    envelope = parse_envelope(raw_body, idempotency_key, require_https_callbacks)
    return inline_batch(client_id, envelope, raw_body, idempotency_key, require_https_callbacks)


def inline_batch(
    client_id: str,
    envelope: BatchEnvelope,
    raw_body: bytes,
    idempotency_key: str | None,
    require_https_callbacks: bool,
) -> BatchSubmission:
    """An inline batch's jobs, every one validated (ValidationFailed naming each bad one)."""
    if envelope.jobs is None:
        raise errors.ValidationFailed(
            [{"loc": ["body", "manifest"], "msg": "a manifest batch is read by submit/manifest.py"}],
            "request body breaks the batch schema",
        )
    items, problems = _items(client_id, envelope.jobs, require_https_callbacks)
    if problems:
        raise errors.ValidationFailed(problems[:MAX_DETAILS], f"{_count(problems)} of the batch are invalid")
    canonical = json.dumps(
        {
            "jobs": [
                {"custom_id": item.custom_id, **item.submission.request.model_dump(mode="json")}
                for item in items
            ],
            "callback_url": envelope.callback_url,
            "metadata": envelope.metadata,
        },
        sort_keys=True,
        separators=(",", ":"),
    )
    return BatchSubmission(
        client_id=client_id,
        items=tuple(items),
        callback_url=envelope.callback_url,
        metadata=envelope.metadata,
        fingerprint=hashlib.sha256(canonical.encode()).hexdigest(),
        idempotency_key=idempotency_key,
        raw_body=raw_body,
    )


def _items(
    client_id: str, jobs: list[Any], require_https: bool
) -> tuple[list[BatchItem], list[dict[str, Any]]]:
    items: list[BatchItem] = []
    problems: list[dict[str, Any]] = []
    seen: dict[str, int] = {}
    for index, job in enumerate(jobs):
        where: list[str | int] = ["body", "jobs", index]
        if not isinstance(job, dict):
            problems.append({"loc": where, "msg": "must be a job object"})
            continue
        custom_id = job.get("custom_id")
        if not isinstance(custom_id, str) or not CUSTOM_ID.match(custom_id):
            problems.append({"loc": [*where, "custom_id"], "msg": CUSTOM_ID_RULE})
        elif custom_id in seen:
            problems.append(
                {"loc": [*where, "custom_id"], "msg": f"repeats the custom_id of job {seen[custom_id]}"}
            )
        else:
            seen[custom_id] = index
        item, job_problems = job_of(client_id, job, require_https)
        problems.extend(_within(where, detail) for detail in job_problems)
        if item is not None:
            items.append(item)
    return items, problems


def job_of(
    client_id: str, job: dict[str, Any], require_https: bool
) -> tuple[BatchItem | None, list[dict[str, Any]]]:
    """One job of a batch checked as POST /v1/jobs checks one (its `custom_id` is the caller's to
    check): the item (None when invalid, or its custom_id is not even a string) and the problems
    of its envelope and input, their `loc`s from `"body"` as for a create."""
    envelope = dict(job)
    custom_id = envelope.pop("custom_id", None)
    try:
        submission = submission_of(client_id, envelope, None, require_https)
    except errors.ValidationFailed as refused:
        return None, list(refused.details or [])
    except errors.UnknownTool as refused:
        return None, [{"loc": ["body", "tool"], "msg": refused.message}]
    if not isinstance(custom_id, str):
        return None, []
    request = submission.request
    return BatchItem(custom_id, submission, rates.estimate_credits(request.tool, request.input)), []


def _within(where: list[str | int], detail: dict[str, Any]) -> dict[str, Any]:
    """A job's detail, its `loc` moved under the job's place in the batch."""
    loc = list(detail.get("loc") or [])
    if loc[:1] == ["body"]:
        loc = loc[1:]
    return {**detail, "loc": [*where, *loc]}


def _count(problems: list[dict[str, Any]]) -> str:
    jobs = {problem["loc"][2] for problem in problems if len(problem["loc"]) > 2}
    return f"{len(jobs)} job{'s' if len(jobs) != 1 else ''}"
