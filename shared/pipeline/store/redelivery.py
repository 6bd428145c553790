"""Retry timing and dead-lettering for messages of an SQS-triggered function."""

from __future__ import annotations

from functools import lru_cache

from pipeline.platform.aws import sqs_client

# SQS refuses a visibility timeout above 12 hours (ChangeMessageVisibility answers InvalidParameterValue),
# so no retry delay may be longer: the retry policies refuse such a delay when they are built, at cold start.
MAX_VISIBILITY_TIMEOUT_SECONDS = 12 * 3600


@lru_cache(maxsize=8)
def queue_url_from_arn(arn: str) -> str:
    """arn:aws:sqs:region:account:name -> the queue URL, through the configured endpoint."""
    name = arn.rsplit(":", 1)[-1]
    account = arn.split(":")[4]
    return sqs_client().get_queue_url(QueueName=name, QueueOwnerAWSAccountId=account)["QueueUrl"]


def delay_next_attempt(queue_arn: str, receipt_handle: str, delay_seconds: int) -> None:
    """Bring a failed message back after `delay_seconds` instead of the queue's visibility timeout."""
    if not 0 <= delay_seconds <= MAX_VISIBILITY_TIMEOUT_SECONDS:
        # A policy cannot hold such a delay; clipping it would silently change the schedule.
        raise ValueError(
            f"a retry delay must be 0 to {MAX_VISIBILITY_TIMEOUT_SECONDS} s, not {delay_seconds}"
        )
    sqs_client().change_message_visibility(
        QueueUrl=queue_url_from_arn(queue_arn),
        ReceiptHandle=receipt_handle,
        VisibilityTimeout=delay_seconds,
    )


def dead_letter(dlq_url: str, body: str, reason: str) -> None:
    sqs_client().send_message(
        QueueUrl=dlq_url,
        MessageBody=body,
        MessageAttributes={"failure_reason": {"DataType": "String", "StringValue": reason[:1000]}},
    )
