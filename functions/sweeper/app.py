"""Scheduled reconciliation sweep: finds jobs that have not moved for a while (through the jobs
table's ActiveJobsIndex, never a scan) and settles them with Magic Hour's view of the project,
several at once and round-robin between clients."""

from __future__ import annotations

from dataclasses import asdict
from typing import Any

from aws_lambda_powertools.utilities.typing import LambdaContext

from pipeline.aws import warm_up
from pipeline.logic import sweep
from pipeline.magic_hour.client import client_from_settings
from pipeline.observability import logger, metrics, tracer
from pipeline.settings import get_settings
from pipeline.timeutil import epoch_seconds

magic_hour = client_from_settings(connections=get_settings().sweep_concurrency)


@logger.inject_lambda_context(clear_state=True)
@tracer.capture_lambda_handler
@metrics.log_metrics
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:  # noqa: ARG001 - scheduled
    # The checks run in threads that share these clients: they are made here (once per container).
    settings = get_settings()
    warm_up(settings.require("jobs_table_name"), settings.require("clients_table_name"))
    # The request id names this invocation as the lease holder: a retried or overlapping
    # invocation is another holder and waits its turn.
    report = sweep.run(
        epoch_seconds(), magic_hour, context.get_remaining_time_in_millis, holder=context.aws_request_id
    )
    if report.checked or report.stopped:
        logger.info("sweep done", extra=asdict(report))
    return asdict(report)
