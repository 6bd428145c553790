"""Copies each Magic Hour output into S3 (SQS-triggered, partial batch failures).

A transient failure fails only its own record and comes back after an explicit, growing delay
(pipeline.jobs.retry_policy); the last allowed attempt, or a permanent failure, fails the job with
`source: download` and the message ends on the dead-letter queue with the reason. Nothing is
deleted from the queue before it is stored and recorded.
"""

from __future__ import annotations

from typing import Any

# Powertools' batch package first: imported after pydantic, it also loads every parser model
# (~60 ms of cold start; tests/unit/test_observability.py keeps it out).
from aws_lambda_powertools.utilities.batch.types import PartialItemFailureResponse
from aws_lambda_powertools.utilities.data_classes.sqs_event import SQSRecord
from aws_lambda_powertools.utilities.typing import LambdaContext
from pydantic import ValidationError

from pipeline.downloads import downloads
from pipeline.downloads.http_to_s3 import DownloadFailed, DownloadForbidden
from pipeline.jobs import retry_policy
from pipeline.magic_hour.client import client_from_settings
from pipeline.magic_hour.errors import MagicHourError
from pipeline.models.tasks import DownloadTask
from pipeline.platform import sqs_batch
from pipeline.platform.observability import about_job, logger, tracer
from pipeline.platform.settings import get_settings

settings = get_settings()
magic_hour = client_from_settings()
failed_attempts = retry_policy.download_attempts(settings)


@tracer.capture_method
def handle_record(record: SQSRecord) -> None:
    about_job(None)
    try:
        task = DownloadTask.model_validate_json(record.body)
    except ValidationError as exc:
        failed_attempts.dead_letter(record, f"message is not a download task: {exc.errors()[0]['msg']}")
        return
    about_job(task.job_id)
    try:
        downloads.process(task, magic_hour)
    except (DownloadForbidden, downloads.DownloadGone) as permanent:
        _park(record, task, str(permanent))
    except (DownloadFailed, MagicHourError, OSError, ConnectionError) as transient:
        _retry_or_give_up(record, task, f"{transient.__class__.__name__}: {transient}")
    except Exception as unexpected:  # S3/DynamoDB trouble or a bug: retry, never lose the task
        logger.exception("download attempt failed unexpectedly", extra={"job_id": task.job_id})
        # Raw botocore text can name accounts and roles: the job's error gets a stable, plain reason.
        _retry_or_give_up(record, task, f"internal error ({unexpected.__class__.__name__})")


def _retry_or_give_up(record: SQSRecord, task: DownloadTask, reason: str) -> None:
    def fail_job(attempt: int, reason: str) -> None:
        downloads.fail_job(
            task.job_id,
            task.index,
            f"output {task.index} could not be downloaded after {attempt} attempts: {reason}",
        )

    failed_attempts.settle(
        record,
        reason,
        give_up=fail_job,
        # The sweep must not queue this output again while its message still retries.
        on_retry=lambda _reason: downloads.note_attempt(task.job_id),
        job_id=task.job_id,
        index=task.index,
    )


def _park(record: SQSRecord, task: DownloadTask, reason: str) -> None:
    """Permanent failure: straight to the dead-letter queue, the job failed with the reason."""
    failed_attempts.dead_letter(record, reason, job_id=task.job_id, index=task.index)
    downloads.fail_job(task.job_id, task.index, f"output {task.index} cannot be downloaded: {reason}")


@logger.inject_lambda_context(clear_state=True)
@tracer.capture_lambda_handler
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> PartialItemFailureResponse:
    return sqs_batch.process(event, context, handle_record)
