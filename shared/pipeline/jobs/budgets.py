"""Daily credit budgets per client, and the usage they are measured against.

A client with a budget is refused new jobs once its credits charged this UTC day reach it. The
check reads the day's counter before anything is sent to Magic Hour; charges are counted when
Magic Hour reports them. Submissions in flight at once each pass the check before any of them is
counted, so a budget can be overshot by at most those jobs' credits (and the last admitted job may
cost more than what was left): a limit on spending, not a reservation.
"""

from __future__ import annotations

import re
from datetime import UTC, date, datetime, timedelta

from pipeline.jobs import errors

# Re-exported: dispatch/dispatch.py catches it as budgets.BudgetExceeded.
from pipeline.jobs.errors import BudgetExceeded as BudgetExceeded
from pipeline.models.job import Job, JobStatus
from pipeline.platform import ids
from pipeline.platform.observability import BUDGETS, emit, logger
from pipeline.store import jobs as job_store
from pipeline.store import usage

_DAY = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}")  # ASCII digits only (\d takes any script)


def utc_today() -> str:
    return datetime.now(UTC).date().isoformat()


def seconds_until_next_utc_day(now: datetime | None = None) -> int:
    moment = now or datetime.now(UTC)
    midnight = datetime.combine(moment.date() + timedelta(days=1), datetime.min.time(), UTC)
    return max(1, int((midnight - moment).total_seconds() + 0.999))


def check_budget(client_id: str, today: str) -> None:
    budget = usage.budget_of(client_id)
    if budget is None:
        return
    spent = usage.usage_of(client_id, today).credits_charged
    if spent >= budget:
        emit(BUDGETS, outcome="exceeded")
        logger.info(
            "daily credit budget reached", extra={"client_id": client_id, "budget": budget, "spent": spent}
        )
        raise BudgetExceeded(client_id, today, budget, spent, seconds_until_next_utc_day())


def check_new_submission(client_id: str, idempotency_key: str | None) -> None:
    """The budget check of a create request. A replay of a job that already exists is no new
    spending: it passes, so the client still gets its job (or the same 409) after the budget is
    reached."""
    try:
        check_budget(client_id, utc_today())
    except BudgetExceeded:
        # Looked up only when refusing, so a create under budget pays no extra read.
        if idempotency_key is not None:
            job_id = ids.job_id_for_idempotency_key(client_id, idempotency_key)
            if job_store.get_job(job_id) is not None:
                return
        raise


def parse_day(raw: str | None) -> str:
    if not raw:  # absent or empty: today
        return utc_today()
    try:
        if not _DAY.fullmatch(raw):
            raise ValueError(raw)
        return date.fromisoformat(raw).isoformat()
    except ValueError as exc:
        raise errors.ValidationFailed(
            [{"loc": ["query", "day"], "msg": "must be a calendar date YYYY-MM-DD (UTC)"}],
            "query parameters are invalid",
        ) from exc


def record_charge(client_id: str, job_id: str, credits: int | None) -> None:
    """Count a job Magic Hour charged, on today's UTC counter. Never raises: the job and its
    project exist whatever happens to the counter, and failing the request now would invite a
    second create."""
    try:
        usage.record_charge(client_id, job_id, credits or 0, utc_today())
    except Exception:
        logger.exception("could not record a job's charge", extra={"job_id": job_id})
        emit(BUDGETS, outcome="not_recorded")


def refund_if_failed(job: Job) -> None:
    """Take a failed job's credits back out of its day: Magic Hour refunds a project that failed.
    A job that failed in our downloader was rendered, and charged for good, so it still counts."""
    if job.status is not JobStatus.FAILED or (job.error is not None and job.error.source == "download"):
        return
    try:
        usage.record_refund(job.client_id, job.job_id)
    except Exception:
        logger.exception("could not record a job's refund", extra={"job_id": job.job_id})
        emit(BUDGETS, outcome="not_recorded")
