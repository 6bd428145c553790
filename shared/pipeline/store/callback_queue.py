"""The callback queue: one message per ended job that has a callback URL, and one per ended batch
(its results file and its callback)."""

from __future__ import annotations

from pipeline.models.tasks import BatchEndTask, CallbackTask
from pipeline.platform.aws import sqs_client
from pipeline.platform.settings import get_settings


def send_callback_task(task: CallbackTask | BatchEndTask) -> None:
    queue_url = get_settings().require("callback_queue_url")
    sqs_client().send_message(QueueUrl=queue_url, MessageBody=task.model_dump_json())
