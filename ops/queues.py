"""Redriving the dead-letter queues. A message is sent back before it is deleted, so a crash in
between leaves a duplicate (harmless: downloads and callbacks are idempotent), never a loss."""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any


@dataclass
class RedriveReport:
    moved: int = 0
    dropped: int = 0
    outcomes: dict[str, int] = field(default_factory=dict)

    def count(self, outcome: str) -> None:
        self.outcomes[outcome] = self.outcomes.get(outcome, 0) + 1


def depth(sqs: Any, queue_url: str) -> dict[str, int]:
    attributes = sqs.get_queue_attributes(
        QueueUrl=queue_url,
        AttributeNames=["ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible"],
    )["Attributes"]
    return {
        "visible": int(attributes.get("ApproximateNumberOfMessages", "0")),
        "in_flight": int(attributes.get("ApproximateNumberOfMessagesNotVisible", "0")),
    }


def redrive(
    sqs: Any,
    dead_letter_url: str,
    source_url: str,
    prepare: Callable[[dict[str, Any]], str] | None = None,
    limit: int | None = None,
) -> RedriveReport:
    """Move what waits on the dead-letter queue now back to its source queue. `prepare` looks at
    each message's body first and answers `send` or why not (the message is then dropped)."""
    report = RedriveReport()
    waiting = depth(sqs, dead_letter_url)["visible"]
    if limit is not None:
        waiting = min(waiting, limit)
    while report.moved + report.dropped < waiting:
        answer = sqs.receive_message(
            QueueUrl=dead_letter_url,
            MaxNumberOfMessages=min(10, waiting - report.moved - report.dropped),
            WaitTimeSeconds=1,
            # Long enough to send each one back before anyone else may see it again.
            VisibilityTimeout=60,
        )
        messages = answer.get("Messages", [])
        if not messages:
            break
        for message in messages:
            outcome = "send"
            if prepare is not None:
                try:
                    body = json.loads(message["Body"])
                except ValueError:
                    body = None
                outcome = prepare(body) if isinstance(body, dict) else "not_a_task"
            if outcome == "send":
                sqs.send_message(QueueUrl=source_url, MessageBody=message["Body"])
                report.moved += 1
            else:
                report.dropped += 1
            report.count(outcome)
            sqs.delete_message(QueueUrl=dead_letter_url, ReceiptHandle=message["ReceiptHandle"])
    return report
