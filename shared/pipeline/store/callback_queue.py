"""The callback queue: one message per ended job that has a callback URL, and one per ended batch
(its results file and its callback).

Each message carries its client as the `MessageGroupId`: on a standard queue that makes it an SQS
fair queue, which hands other clients' messages out ahead of a client whose messages pile up in
flight (docs/design.md, "Callbacks").
"""

from __future__ import annotations

import hashlib
import re

from pipeline.models.tasks import BatchEndTask, CallbackTask
from pipeline.platform.aws import sqs_client
from pipeline.platform.settings import get_settings

# What SQS takes as a MessageGroupId: 1..128 printable ASCII characters, no space.
_GROUP_ID = re.compile(r"^[\x21-\x7e]{1,128}$")


def message_group(client_id: str) -> str:
    """The client's fair-queue group: its id, or a digest of it when SQS would refuse the id."""
    return client_id if _GROUP_ID.match(client_id) else hashlib.sha256(client_id.encode()).hexdigest()


def send_callback_task(task: CallbackTask | BatchEndTask, delay_seconds: int = 0) -> None:
    queue_url = get_settings().require("callback_queue_url")
    message: dict[str, object] = {"QueueUrl": queue_url, "MessageBody": task.model_dump_json()}
    if task.client_id is not None:
        message["MessageGroupId"] = message_group(task.client_id)
    if delay_seconds:
        message["DelaySeconds"] = delay_seconds
    sqs_client().send_message(**message)  # type: ignore[arg-type]
