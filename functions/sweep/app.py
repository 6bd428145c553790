"""Scheduled reconciliation sweep: finds jobs that have not moved for a while (through the jobs
table's ActiveJobsIndex, never a scan) and settles them with Magic Hour's view of the project,
several at once and round-robin between clients."""

from __future__ import annotations

from dataclasses import asdict
from typing import Any

from aws_lambda_powertools.utilities.typing import LambdaContext

from pipeline.magic_hour import account
from pipeline.magic_hour.client import client_from_settings
from pipeline.platform.aws import warm_up
from pipeline.platform.observability import logger, tracer
from pipeline.platform.settings import get_settings
from pipeline.platform.time_budget import TimeBudget
from pipeline.platform.timeutil import epoch_seconds
from pipeline.submit import batch_resume
from pipeline.sweep import sweep

# One chunk of a batch's jobs (100 conditional puts by 8 writers): well under a second on
# DynamoDB, a few seconds on the local moto server; the margin is for the latter.
_BATCH_CHUNK_MS = 10_000

magic_hour = client_from_settings(connections=get_settings().sweep_concurrency)


@logger.inject_lambda_context(clear_state=True)
@tracer.capture_lambda_handler
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:  # noqa: ARG001 - scheduled
    # The checks run in threads that share these clients: they are made here (once per container).
    settings = get_settings()
    warm_up(settings.require("jobs_table_name"), settings.require("clients_table_name"))
    # The request id names this invocation as the lease holder: a retried or overlapping
    # invocation is another holder and waits its turn.
    budget = TimeBudget.of(context)
    report = sweep.run(epoch_seconds(), magic_hour, budget, holder=context.aws_request_id)
    if report.checked or report.stopped:
        logger.info("sweep done", extra=asdict(report))
    read_ms = (settings.magic_hour_connect_timeout_seconds + settings.magic_hour_read_timeout_seconds) * 1000
    # Batches whose writer died while still `validating` (submit/batch_resume.py): after the jobs'
    # checks, which hold money; a chunk of jobs starts only while it and the balance read fit.
    stuck = batch_resume.resume_stuck(epoch_seconds(), lambda: budget.fits(int(read_ms) + _BATCH_CHUNK_MS))
    if stuck.resumed or stuck.unfinished or stuck.errors:
        logger.info("batches left validating", extra=asdict(stuck))
    # The balance as a metric (MagicHourCreditsLow), at most once a minute; after the sweep, so a
    # slow account read never costs the sweep its time, and only when a whole read still fits.
    if budget.left_ms() > read_ms + 1000:
        account.publish_balance(magic_hour)
    return asdict(report)
