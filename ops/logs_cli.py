"""One job's story in CloudWatch Logs (`python -m ops show JOB --logs HOURS`): the Logs Insights
query over every function's log group, and its rows."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any


def job_logs(
    logs: Any,
    groups: list[str],
    job_id: str,
    hours: float,
    timeout: float = 60.0,
    now: Callable[[], float] = time.time,
    sleep: Callable[[float], None] = time.sleep,
) -> list[dict[str, str]]:
    """Run the job's Logs Insights query over the function log groups and wait for its rows."""
    end = int(now())
    query_id = logs.start_query(
        logGroupNames=groups,
        startTime=end - int(hours * 3600),
        endTime=end,
        queryString=logs_query(job_id),
        limit=1000,
    )["queryId"]
    deadline = now() + timeout
    while True:
        answer = logs.get_query_results(queryId=query_id)
        if answer["status"] in ("Complete", "Failed", "Cancelled", "Timeout", "Unknown"):
            break
        if now() > deadline:
            raise LookupError(f"the logs query did not finish in {timeout:.0f}s (query {query_id})")
        sleep(1.0)
    if answer["status"] != "Complete":
        raise LookupError(f"the logs query ended {answer['status']}")
    return [
        {cell["field"]: cell["value"] for cell in row if not cell["field"].startswith("@ptr")}
        for row in answer.get("results", [])
    ]


def logs_query(job_id: str) -> str:
    """The CloudWatch Logs Insights query that shows one job's whole story (every function)."""
    return (
        "fields @timestamp, service, level, message, status, outcome, error, reason\n"
        f"| filter job_id = '{job_id}'\n"
        "| sort @timestamp asc"
    )
