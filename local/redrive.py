"""`make redrive`: move every message from a dead-letter queue back to its source queue on the
local stack (what `aws sqs start-message-move-task --source-arn <dlq arn>` does on AWS).

A redriven download for a job that failed because of it revives the job: it is `downloading`
again and completes once every output is stored.
"""

from __future__ import annotations

import argparse
import sys

from local.config import LocalConfig
from local.resources import client


def redrive(sqs: object, dead_letter_url: str, source_url: str) -> int:
    """Move the messages waiting now; ones that fail again and come back are left for next time."""
    attributes = sqs.get_queue_attributes(  # type: ignore[attr-defined]
        QueueUrl=dead_letter_url, AttributeNames=["ApproximateNumberOfMessages"]
    )["Attributes"]
    waiting = int(attributes.get("ApproximateNumberOfMessages", "0"))
    moved = 0
    while moved < waiting:
        answer = sqs.receive_message(  # type: ignore[attr-defined]
            QueueUrl=dead_letter_url, MaxNumberOfMessages=10, WaitTimeSeconds=1, MessageAttributeNames=["All"]
        )
        messages = answer.get("Messages", [])
        if not messages:
            return moved
        for message in messages:
            sqs.send_message(QueueUrl=source_url, MessageBody=message["Body"])  # type: ignore[attr-defined]
            sqs.delete_message(QueueUrl=dead_letter_url, ReceiptHandle=message["ReceiptHandle"])  # type: ignore[attr-defined]
            moved += 1
    return moved


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="make redrive", description=__doc__)
    parser.add_argument("--queue", default="Download", choices=["Download", "Callback"])
    args = parser.parse_args(argv)
    config = LocalConfig.from_environment()
    sqs = client("sqs", config.aws_url, config.region)
    prefix = f"{config.stack_name}-{args.queue}"
    try:
        source = sqs.get_queue_url(QueueName=f"{prefix}Queue")["QueueUrl"]
        dead = sqs.get_queue_url(QueueName=f"{prefix}DeadLetterQueue")["QueueUrl"]
    except Exception as exc:  # the stack is not running, or runs elsewhere
        print(
            f"no local stack at {config.aws_url} ({exc.__class__.__name__}); start it with make local",
            file=sys.stderr,
        )
        return 1
    moved = redrive(sqs, dead, source)
    print(f"moved {moved} message(s) from {prefix}DeadLetterQueue back to {prefix}Queue")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
