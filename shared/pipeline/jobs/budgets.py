"""Daily credit budgets per client: the UTC day, and the refusal of a job that does not fit.

The bound itself is a reservation made with one conditional write (jobs/reservations.py): a job
is admitted only if the day's charged and reserved credits plus its estimate fit in the budget.
"""

from __future__ import annotations

import re
from datetime import UTC, date, datetime, timedelta

from pipeline.jobs import errors

# Re-exported: create/claims.py catches it as budgets.BudgetExceeded.
from pipeline.jobs.errors import BudgetExceeded as BudgetExceeded
from pipeline.platform.observability import BUDGETS, emit, logger
from pipeline.platform.timeutil import utc_now
from pipeline.store import usage

_DAY = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}")  # ASCII digits only (\d takes any script)


def utc_today() -> str:
    return utc_now().date().isoformat()


def seconds_until_next_utc_day(now: datetime | None = None) -> int:
    moment = now or utc_now()
    midnight = datetime.combine(moment.date() + timedelta(days=1), datetime.min.time(), UTC)
    return max(1, int((midnight - moment).total_seconds() + 0.999))


def refusal(client_id: str, day: str, budget: int, estimate: int) -> BudgetExceeded:
    """The 402 of a job whose estimate did not fit: read only when refusing, for its message."""
    emit(BUDGETS, outcome="exceeded")
    committed = usage.usage_of(client_id, day).committed
    logger.info(
        "daily credit budget cannot take the job",
        extra={"client_id": client_id, "budget": budget, "committed": committed, "estimate": estimate},
    )
    return BudgetExceeded(client_id, day, budget, committed, seconds_until_next_utc_day(), estimate)


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
