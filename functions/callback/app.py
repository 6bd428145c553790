"""Delivers client callbacks from the callback queue (Standard Webhooks signatures).

A failed attempt comes back after an explicit, growing delay (about 24 h in all); then the
callback is marked `failed` on the job, and the message is dead-lettered for the record. The
job's own status is never touched here.
"""

from __future__ import annotations

from typing import Any

# Powertools' batch package first: imported after pydantic, it also loads every parser model
# (~60 ms of cold start; tests/unit/test_observability.py keeps it out).
from aws_lambda_powertools.utilities.batch.types import PartialItemFailureResponse
from aws_lambda_powertools.utilities.data_classes.sqs_event import SQSRecord
from aws_lambda_powertools.utilities.typing import LambdaContext
from pydantic import ValidationError

from pipeline.callbacks import batch_end, callbacks, lanes
from pipeline.jobs import callback_state, retry_policy
from pipeline.models.tasks import BatchEndTask, CallbackTask
from pipeline.platform import sqs_batch
from pipeline.platform.observability import CALLBACKS, about_job, emit, logger, tracer
from pipeline.platform.settings import get_settings

settings = get_settings()


failed_attempts = retry_policy.callback_attempts(settings)


@tracer.capture_method
def handle_record(record: SQSRecord) -> None:
    about_job(None)
    try:
        task = CallbackTask.model_validate_json(record.body)
    except ValidationError:
        try:
            ended = BatchEndTask.model_validate_json(record.body)
        except ValidationError:
            logger.error("message is not a callback task; dropped")
            emit(CALLBACKS, outcome="malformed")
            return
        handle_batch_end(record, ended)
        return
    about_job(task.job_id)
    # This delivery's attempt number: copies sent again while the client's lane was full carry
    # what their earlier copies attempted.
    attempt = task.prior_attempts + retry_policy.attempt_of(record)
    try:
        callbacks.deliver(task)
    except lanes.LaneFull as full:
        lanes.wait_in_lane(task, full.client_id, attempt)
    except callbacks.CallbackRefused as refused:
        logger.warning("callback URL refused", extra={"job_id": task.job_id, "reason": str(refused)})
        callback_state.give_up(task.job_id, str(refused))
    except callbacks.CallbackFailed as failed:
        # The client reads the coarse text (callbacks.NO_ANSWER or the HTTP status); the detail
        # (what failed, which address) is for us.
        logger.info("callback attempt got no 2xx", extra={"job_id": task.job_id, "detail": failed.detail})
        _retry_or_give_up(record, task, str(failed), attempt)
    except Exception:  # our own trouble (secret store, DynamoDB): it counts as an attempt
        logger.exception("callback attempt failed unexpectedly", extra={"job_id": task.job_id})
        # Raw botocore text can name accounts and roles: the client sees a stable, plain reason.
        _retry_or_give_up(record, task, callbacks.INTERNAL_ERROR, attempt)


def _retry_or_give_up(record: SQSRecord, task: CallbackTask, reason: str, attempt: int) -> None:
    failed_attempts.settle(
        record,
        reason,
        attempt=attempt,
        give_up=lambda _attempt, reason: callback_state.give_up(task.job_id, reason),
        on_retry=lambda reason: callback_state.note_failed_attempt(task.job_id, reason),
        job_id=task.job_id,
    )


def handle_batch_end(record: SQSRecord, task: BatchEndTask) -> None:
    """A batch's results file, then its callback: a failure of either is retried like a job's
    callback, and the last attempt gives the callback up."""
    about_job(None, task.client_id)
    try:
        batch_end.deliver(task)
        return
    except callbacks.CallbackRefused as refused:
        logger.warning("callback URL refused", extra={"batch_id": task.batch_id, "reason": str(refused)})
        batch_end.give_up(task, str(refused))
        return
    except callbacks.CallbackFailed as failed:
        reason = str(failed)
    except Exception:  # our own trouble (S3, DynamoDB, the secret store): it counts as an attempt
        logger.exception("batch end failed unexpectedly", extra={"batch_id": task.batch_id})
        reason = callbacks.INTERNAL_ERROR
    failed_attempts.settle(
        record,
        reason,
        give_up=lambda _attempt, reason: batch_end.give_up(task, reason),
        on_retry=lambda reason: batch_end.note_failed_attempt(task, reason),
        batch_id=task.batch_id,
    )


@logger.inject_lambda_context(clear_state=True)
@tracer.capture_lambda_handler
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> PartialItemFailureResponse:
    return sqs_batch.process(event, context, handle_record)
