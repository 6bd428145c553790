"""Retry timing and dead-lettering for messages of an SQS-triggered function."""

from __future__ import annotations

from functools import lru_cache

from pipeline.aws import sqs_client


@lru_cache(maxsize=8)
def queue_url_from_arn(arn: str) -> str:
    """arn:aws:sqs:region:account:name -> the queue URL, through the configured endpoint."""
    name = arn.rsplit(":", 1)[-1]
    account = arn.split(":")[4]
    return sqs_client().get_queue_url(QueueName=name, QueueOwnerAWSAccountId=account)["QueueUrl"]


def delay_next_attempt(queue_arn: str, receipt_handle: str, delay_seconds: int) -> None:
    """Bring a failed message back after `delay_seconds` instead of the queue's visibility timeout."""
    sqs_client().change_message_visibility(
        QueueUrl=queue_url_from_arn(queue_arn),
        ReceiptHandle=receipt_handle,
        VisibilityTimeout=max(0, min(delay_seconds, 43200)),
    )


def dead_letter(dlq_url: str, body: str, reason: str) -> None:
    sqs_client().send_message(
        QueueUrl=dlq_url,
        MessageBody=body,
        MessageAttributes={"failure_reason": {"DataType": "String", "StringValue": reason[:1000]}},
    )
