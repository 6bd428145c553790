"""Creating a job: validate everything, write the job, then (and only then) spend credits.

Order matters for money: the job row exists before Magic Hour is called, and Magic Hour gets our
job id inside the project name, so a project created by a request whose answer we never saw can
still be matched to its job (by the webhook, or by the sweep) instead of being created again.
"""

from __future__ import annotations

import hashlib
import ipaddress
import json
import math
import re
import string
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

from pydantic import ValidationError

from pipeline.create import claims, creation, inputs
from pipeline.jobs import bookkeeping, budgets, errors, moves, reservations
from pipeline.magic_hour import account, rates
from pipeline.magic_hour.catalogue import Tool, check_input, find_tool
from pipeline.magic_hour.client import MagicHourClient
from pipeline.models.api import CreateJobRequest
from pipeline.models.job import Job, JobStatus
from pipeline.models.usage import OverBudget
from pipeline.platform import ids, strict_json
from pipeline.platform.observability import about_job, logger
from pipeline.platform.settings import get_settings
from pipeline.platform.timeutil import epoch_seconds, now_iso
from pipeline.store import fair_queue, usage
from pipeline.store import jobs as job_store

MAX_BODY_BYTES = 256 * 1024
IDEMPOTENCY_KEY_MAX = 255
_PRINTABLE = frozenset(string.printable) - frozenset("\t\n\r\x0b\x0c")
# Beyond Magic Hour's create timeout, for the s3:// inputs handed over before the create.
SUBMIT_CLAIM_MARGIN_SECONDS = 5

# Failures kept on a `failed` job (a retry with the same Idempotency-Key shows them): Magic Hour
# looked at the request and refused it.
_KEPT_FAILURES: dict[str, type[errors.CreateRefused]] = {
    "upstream_rejected": errors.UpstreamRejected,
    "insufficient_credits": errors.InsufficientCredits,
    "plan_restricted": errors.PlanRestricted,
}


@dataclass(frozen=True)
class Submission:
    client_id: str
    request: CreateJobRequest
    tool: Tool
    fingerprint: str
    idempotency_key: str | None


def parse_submission(
    client_id: str, raw_body: bytes, idempotency_key: str | None, require_https_callbacks: bool
) -> Submission:
    """Everything a create request must pass before any state is written."""
    document = parse_body(raw_body, idempotency_key)
    return submission_of(client_id, document, idempotency_key, require_https_callbacks)


def parse_body(raw_body: bytes, idempotency_key: str | None) -> dict[str, Any]:
    """The request body as a JSON object, checked as every create route checks it (size, key,
    strict JSON, Unicode text), before anything of its meaning is looked at."""
    if len(raw_body) > MAX_BODY_BYTES:
        raise errors.BodyTooLarge(f"request body is over {MAX_BODY_BYTES // 1024} KB")
    if idempotency_key is not None:
        _check_idempotency_key(idempotency_key)
    try:
        document = strict_json.loads(raw_body)
    except strict_json.NotJson as exc:
        raise errors.MalformedBody("request body is not valid JSON") from exc
    if not isinstance(document, dict):
        raise errors.MalformedBody("request body must be a JSON object")
    _refuse_lone_surrogates(document)
    return document


def submission_of(
    client_id: str, document: dict[str, Any], idempotency_key: str | None, require_https_callbacks: bool
) -> Submission:
    """One job envelope (a create's body, or one job of a batch), validated; `loc`s start at
    `"body"` as for a create."""
    if isinstance(document.get("tool"), str) and find_tool(document["tool"]) is None:
        raise errors.UnknownTool(
            f"'{document['tool'][:100]}' is not a Magic Hour tool this deployment accepts; "
            "GET /v1/tools lists them",
        )
    try:
        request = CreateJobRequest.model_validate(document)
    except ValidationError as exc:
        raise errors.ValidationFailed(
            [{"loc": ["body", *error["loc"]], "msg": error["msg"]} for error in exc.errors()],
            "request body breaks the job schema",
        ) from exc
    tool = find_tool(request.tool)
    assert tool is not None  # narrows the type; checked above, before the envelope  # nosec B101
    problem = check_input(tool, request.input)
    if problem is not None:
        raise errors.ValidationFailed(
            [{"loc": list(problem.loc), "msg": problem.msg}], f"input breaks the schema of '{tool.name}'"
        )
    if request.callback_url is not None:
        check_callback_url(request.callback_url, require_https_callbacks)
    # Last: it asks S3 about each s3:// input, so everything cheaper is refused first.
    s3_problems = inputs.check_s3_inputs(client_id, request.input)
    if s3_problems:
        raise errors.ValidationFailed(
            [{"loc": list(p.loc), "msg": p.msg} for p in s3_problems], "an s3:// input cannot be used"
        )
    canonical = json.dumps(request.model_dump(mode="json"), sort_keys=True, separators=(",", ":"))
    return Submission(
        client_id=client_id,
        request=request,
        tool=tool,
        fingerprint=hashlib.sha256(canonical.encode()).hexdigest(),
        idempotency_key=idempotency_key,
    )


def _refuse_lone_surrogates(document: dict[str, Any]) -> None:
    """Anywhere in the body (input included): such a string can be neither stored nor answered,
    and refusing it before the tool is even looked at keeps it out of every message we write."""
    found = strict_json.lone_surrogate(document)
    if found is None:
        return
    loc, where = found
    what = "a key holds" if where == "key" else "holds"
    raise errors.ValidationFailed(
        [{"loc": ["body", *loc], "msg": f"{what} a lone surrogate escape (not Unicode text)"}],
        "request body holds text that is not valid Unicode",
    )


def _check_idempotency_key(key: str) -> None:
    if not 1 <= len(key) <= IDEMPOTENCY_KEY_MAX or not set(key) <= _PRINTABLE:
        raise errors.ValidationFailed(
            [{"loc": ["header", "Idempotency-Key"], "msg": "must be 1..255 printable ASCII characters"}],
            "Idempotency-Key header is invalid",
        )


def check_callback_url(url: str, require_https: bool) -> None:
    if not _is_callback_url(url, ("https",) if require_https else ("https", "http")):
        need = "an https URL" if require_https else "an http(s) URL"
        raise errors.ValidationFailed(
            [
                {
                    "loc": ["body", "callback_url"],
                    "msg": f"must be {need} with a valid host, a port in 1..65535 and no credentials",
                }
            ],
            "callback_url is invalid",
        )


# One DNS label (RFC 1123, plus the underscore some internal names carry; IDNs in punycode form).
_DNS_LABEL = re.compile(r"[a-z0-9_](?:[a-z0-9_-]{0,61}[a-z0-9_])?\Z")


def _is_callback_url(url: str, schemes: tuple[str, ...]) -> bool:
    """A URL the callback sender can certainly POST to later: everything a later parse could
    trip over (bad brackets, a port out of range, whitespace, a host that is no host name) is
    found now, while the caller can still be told."""
    if not url.isascii() or any(char.isspace() or not char.isprintable() for char in url):
        return False
    try:
        parts = urlsplit(url)
        host, port = parts.hostname, parts.port  # both parse lazily and raise ValueError
    except ValueError:
        return False
    if parts.scheme not in schemes or not host or parts.username is not None or parts.password is not None:
        return False
    if port is not None and not 1 <= port <= 65535:
        return False
    try:
        ipaddress.ip_address(host)
    except ValueError:
        pass
    else:
        return True
    labels = host.removesuffix(".").split(".")
    return len(host) <= 253 and all(_DNS_LABEL.match(label) for label in labels)


def submit_claim_seconds() -> int:
    """How long the request that writes a job may take to create its project: Magic Hour's create
    timeout, and a margin for handing over s3:// inputs first. Past it, the request has answered or
    died, whatever the job says."""
    settings = get_settings()
    create_timeout = settings.magic_hour_connect_timeout_seconds + settings.magic_hour_read_timeout_seconds
    return math.ceil(create_timeout) + SUBMIT_CLAIM_MARGIN_SECONDS


def submit(submission: Submission, job_id: str, magic_hour: MagicHourClient) -> Job | None:
    """Write the job with its reservation, then create its Magic Hour project when a slot is free
    (else it waits for the dispatcher). None, and nothing done, when a job with this id exists
    already: that is a retry, the first attempt owns the project (submit/idempotency.py decides
    its answer), whatever the budget says. BudgetExceeded (nothing written, nothing sent) when the
    job's estimate does not fit in what is left of its client's daily budget."""
    about_job(job_id, submission.client_id)
    request = submission.request
    today = budgets.utc_today()
    budget = usage.budget_of(submission.client_id)
    estimate = rates.estimate_credits(request.tool, request.input)
    try:
        admitted = reservations.admit(submission.client_id, estimate, budget, today)
    except OverBudget:
        if job_store.get_job(job_id) is not None:
            return None  # a replay is no new spending
        raise budgets.refusal(submission.client_id, today, budget or 0, estimate) from None
    now = now_iso()
    # With no cap of ours, Magic Hour's 429s set the limit: while anyone's jobs wait, a new job
    # queues behind them too, or a client posting steadily would take every slot Magic Hour frees.
    waits = account.concurrency_limit(magic_hour) > 0 or claims.jobs_wait()
    project_name = ids.project_name_for(
        job_id, request.name or str(request.input.get("name") or request.tool)
    )
    job = Job(
        job_id=job_id,
        client_id=submission.client_id,
        tool=request.tool,
        kind=submission.tool.kind,
        status=JobStatus.WAITING if waits else JobStatus.SUBMITTING,
        name=request.name,
        metadata=request.metadata,
        callback_url=request.callback_url,
        created_at=now,
        updated_at=now,
        request_fingerprint=submission.fingerprint,
        magic_hour_name=project_name,
        input=request.input,
        callback_state="pending" if request.callback_url else None,
        fair_key=fair_queue.fair_key(fair_queue.next_round_for(submission.client_id), now, job_id)
        if waits
        else None,
        submit_claim_until=epoch_seconds() + submit_claim_seconds(),
        # Sent at once when there is no slot to wait for: the sweep's grace starts now.
        create_sent_at=None if waits else epoch_seconds(),
        **admitted.sets,
    )
    try:
        job_store.check_storable(job, bookkeeping.first_check_at())
    except job_store.JobTooLarge as too_large:
        # Refused before any write: stored anyway, a later write of the job (its project id) would
        # be refused after Magic Hour charged the project.
        raise errors.BodyTooLarge(f"{too_large}; send a smaller input") from too_large
    try:
        if not job_store.put_new_job(job, bookkeeping.first_check_at(), admitted.usage):
            return None
    except OverBudget:
        raise budgets.refusal(submission.client_id, today, budget or 0, estimate) from None
    if waits:
        claimed = claims.claim_now(job)
        if claimed is not None and claimed.status is JobStatus.FAILED:
            return claimed  # the budget was lowered under it: failed budget_exceeded, nothing sent
        if claimed is None:
            moves.wake_dispatcher()
            logger.info(
                "job waits for a Magic Hour slot", extra={"job_id": job_id, "client_id": job.client_id}
            )
            _end_claim(job_id)
            return job_store.get_job(job_id) or job
        job = claimed
    else:
        job = claims.count_in_flight(job)
    try:
        created = creation.create(job, magic_hour, inline=True)
    except creation.CreateNotSent as not_sent:
        if not_sent.code == creation.MISCONFIGURED:
            raise errors.UpstreamMisconfigured(not_sent.message) from not_sent
        raise errors.DependencyUnavailable(f"{not_sent.message}; retry shortly") from not_sent
    except Exception:
        # This request answers with an error: duplicates get the job as it stands from now on.
        # (If the store itself is failing this fails too, and the claim runs out by itself.)
        _end_claim(job_id)
        raise
    if created.project_id is None and not created.status.is_terminal:
        # Waiting again, or `submitting` with an unknown outcome: this request answers now, so a
        # duplicate gets the job as it stands instead of waiting for the claim to run out. A job
        # with its project, or ended, says so by itself: no write.
        _end_claim(job_id)
    return created


def _end_claim(job_id: str) -> None:
    try:
        job_store.end_submit_claim(job_id)
    except Exception:
        # Only the duplicates' answer depends on it: they wait, then see the claim run out.
        logger.exception("could not end the submit claim", extra={"job_id": job_id})


def refusal_error(job: Job) -> errors.CreateRefused | None:
    """The error a job refused at create answers with, on the first request and on every replay."""
    if job.status is JobStatus.FAILED and job.error is not None and job.error.source == "submit":
        refusal = _KEPT_FAILURES.get(job.error.code)
        if refusal is not None:
            return refusal(job.job_id, job.error.message)
    return None
