"""Scheduled reconciliation sweep: finds jobs that have not moved for a while (through the jobs
table's ActiveJobsIndex, never a scan) and settles them with Magic Hour's view of the project."""

from __future__ import annotations

from dataclasses import asdict
from typing import Any

from aws_lambda_powertools.utilities.typing import LambdaContext

from pipeline import secret_store
from pipeline.logic import sweep
from pipeline.magic_hour.client import MagicHourClient
from pipeline.observability import logger, metrics, tracer
from pipeline.settings import get_settings
from pipeline.timeutil import epoch_seconds

settings = get_settings()
magic_hour = MagicHourClient(
    settings.magic_hour_base_url,
    secret_store.magic_hour_api_key,
    timeout=(settings.magic_hour_connect_timeout_seconds, settings.magic_hour_read_timeout_seconds),
)


@logger.inject_lambda_context
@tracer.capture_lambda_handler
@metrics.log_metrics
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:  # noqa: ARG001 - scheduled
    report = sweep.run(epoch_seconds(), magic_hour)
    if report.checked:
        logger.info("sweep done", extra=asdict(report))
    return asdict(report)
