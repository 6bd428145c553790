"""The dispatch queue: wake-ups for the dispatcher, which creates `waiting` jobs at Magic Hour.

A message carries no job: it only says "look at the fair queue now" (or after a delay, for a
create that Magic Hour asked us to retry later). Duplicates are harmless.
"""

from __future__ import annotations

from pipeline.platform.aws import sqs_client
from pipeline.platform.settings import get_settings

# SQS's own ceiling for a message delay; a longer wait is covered by the sweep's wake-ups.
MAX_DELAY_SECONDS = 900


def send_wakeup(delay_seconds: int = 0) -> None:
    sqs_client().send_message(
        QueueUrl=get_settings().require("dispatch_queue_url"),
        MessageBody='{"wake":true}',
        DelaySeconds=max(0, min(MAX_DELAY_SECONDS, delay_seconds)),
    )
