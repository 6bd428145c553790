"""What a client reads: one job, a page of jobs, the tool list, its usage of a day. The answers'
models (pipeline.models.api) are loaded here, by the submit function alone."""

from __future__ import annotations

from pipeline.jobs import budgets, errors
from pipeline.jobs.job_view import to_resource
from pipeline.magic_hour.catalogue import all_tools
from pipeline.models.api import JobList, JobResource, ToolList, ToolResource, UsageReport
from pipeline.models.job import JobStatus
from pipeline.platform import ids
from pipeline.store import jobs as job_store
from pipeline.store import usage

DEFAULT_LIMIT = 20
MAX_LIMIT = 100


def get_job(client_id: str, job_id: str) -> JobResource:
    if not ids.is_job_id(job_id):
        raise errors.JobNotFound()
    job = job_store.get_job(job_id)
    # Another client's job answers exactly like a missing one: no way to probe for ids.
    if job is None or job.client_id != client_id:
        raise errors.JobNotFound()
    return to_resource(job)


def list_jobs(client_id: str, status: str | None, limit: str | None, cursor: str | None) -> JobList:
    status_filter, page_size = parse_list_query(status, limit)
    try:
        page = job_store.list_jobs(client_id, status_filter, page_size, cursor or None)
    except job_store.InvalidCursor as exc:
        raise errors.InvalidCursor(str(exc)) from exc
    return JobList(jobs=[to_resource(job) for job in page.jobs], next_cursor=page.next_cursor)


def parse_list_query(status: str | None, limit: str | None) -> tuple[JobStatus | None, int]:
    """`status` and `limit` of a list of jobs, as given in the query (empty: the defaults)."""
    problems = []
    status_filter: JobStatus | None = None
    if status:
        try:
            status_filter = JobStatus(status)
        except ValueError:
            problems.append(
                {"loc": ["query", "status"], "msg": f"must be one of {[s.value for s in JobStatus]}"}
            )
    page_size = DEFAULT_LIMIT
    if limit:  # absent or empty: the default
        if not (limit.isascii() and limit.isdigit() and len(limit) <= 3) or not 1 <= int(limit) <= MAX_LIMIT:
            problems.append({"loc": ["query", "limit"], "msg": f"must be an integer from 1 to {MAX_LIMIT}"})
        else:
            page_size = int(limit)
    if problems:
        raise errors.ValidationFailed(problems, "query parameters are invalid")
    return status_filter, page_size


def list_tools() -> ToolList:
    return ToolList(
        tools=[
            ToolResource(tool=tool.name, kind=tool.kind, required=list(tool.required))
            for tool in all_tools().values()
        ]
    )


def usage_report(client_id: str, raw_day: str | None) -> UsageReport:
    day = budgets.parse_day(raw_day)
    spent = usage.usage_of(client_id, day)
    return UsageReport(
        day=day,
        credits_charged=spent.credits_charged,
        jobs=spent.jobs,
        daily_credit_budget=usage.budget_of(client_id),
        uploads=spent.uploads,
    )
