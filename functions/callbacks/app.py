"""Delivers client callbacks from the callback queue (Standard Webhooks signatures).

A failed attempt comes back after an explicit, growing delay (about 24 h in all); then the
callback is marked `failed` on the job, and the message is dead-lettered for the record. The
job's own status is never touched here.
"""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools.utilities.batch import BatchProcessor, EventType, process_partial_response
from aws_lambda_powertools.utilities.batch.types import PartialItemFailureResponse
from aws_lambda_powertools.utilities.data_classes.sqs_event import SQSRecord
from aws_lambda_powertools.utilities.typing import LambdaContext
from pydantic import ValidationError

from pipeline.logic import callbacks
from pipeline.logic.retry_policy import FailedAttempts, callback_policy
from pipeline.models.tasks import CallbackTask
from pipeline.observability import CALLBACKS, about_job, emit, logger, metrics, tracer
from pipeline.settings import get_settings

# A batch whose every record failed is still a partial-failure answer (each record has already set
# its own retry delay), not a function error that would retry them all on the queue's timeout.
processor = BatchProcessor(event_type=EventType.SQS, raise_on_entire_batch_failure=False)
settings = get_settings()


# Built at cold start: a delay SQS cannot hold stops the function here.
failed_attempts = FailedAttempts(
    policy=callback_policy(settings),
    work="callback",
    metric=CALLBACKS,
    dead_letter_queue_url=lambda: settings.require("callback_dead_letter_queue_url"),
)


@tracer.capture_method
def handle_record(record: SQSRecord) -> None:
    about_job(None)
    try:
        task = CallbackTask.model_validate_json(record.body)
    except ValidationError:
        logger.error("message is not a callback task; dropped")
        emit(CALLBACKS, outcome="malformed")
        return
    about_job(task.job_id)
    try:
        callbacks.deliver(task)
    except callbacks.CallbackRefused as refused:
        logger.warning("callback URL refused", extra={"job_id": task.job_id, "reason": str(refused)})
        callbacks.give_up(task.job_id, str(refused))
    except callbacks.CallbackFailed as failed:
        _retry_or_give_up(record, task, str(failed))
    except Exception:  # our own trouble (secret store, DynamoDB): it counts as an attempt
        logger.exception("callback attempt failed unexpectedly", extra={"job_id": task.job_id})
        # Raw botocore text can name accounts and roles: the client sees a stable, plain reason.
        _retry_or_give_up(record, task, callbacks.INTERNAL_ERROR)


def _retry_or_give_up(record: SQSRecord, task: CallbackTask, reason: str) -> None:
    failed_attempts.settle(
        record,
        reason,
        give_up=lambda _attempt, reason: callbacks.give_up(task.job_id, reason),
        on_retry=lambda reason: callbacks.note_failed_attempt(task.job_id, reason),
        job_id=task.job_id,
    )


@logger.inject_lambda_context(clear_state=True)
@tracer.capture_lambda_handler
@metrics.log_metrics
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> PartialItemFailureResponse:
    return process_partial_response(
        event=event, record_handler=handle_record, processor=processor, context=context
    )
