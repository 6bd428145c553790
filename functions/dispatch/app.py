"""Creates `waiting` jobs at Magic Hour as concurrency slots free, fairest first.

Triggered by wake-ups on the dispatch queue (a message carries no job). Each invocation takes
jobs from the head of the fair queue until no slot is free, nothing is due, or its time runs low.
"""

from __future__ import annotations

from dataclasses import asdict
from typing import Any

from aws_lambda_powertools.utilities.typing import LambdaContext

from pipeline.dispatch import dispatch
from pipeline.magic_hour.client import client_from_settings
from pipeline.platform.observability import logger, tracer
from pipeline.platform.time_budget import TimeBudget

magic_hour = client_from_settings()


@logger.inject_lambda_context(clear_state=True)
@tracer.capture_lambda_handler(capture_response=False)
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:  # noqa: ARG001 - wake-ups only
    report = dispatch.run(magic_hour, TimeBudget.of(context))
    if report.jobs_created or report.outcomes:
        logger.info("dispatch done", extra=asdict(report))
    # Every record is handled by this one pass: none is reported as failed.
    return {"batchItemFailures": []}
