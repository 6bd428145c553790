"""The download queue: one message per output to copy into S3."""

from __future__ import annotations

from collections.abc import Sequence

from pipeline.models.tasks import DownloadTask
from pipeline.platform.aws import sqs_client
from pipeline.platform.settings import get_settings

_SQS_BATCH = 10


class QueueSendFailed(RuntimeError):
    pass


def send_download_tasks(tasks: Sequence[DownloadTask]) -> None:
    """Queue every task or raise: a partial send is reported, never silently dropped."""
    queue_url = get_settings().require("download_queue_url")
    for start in range(0, len(tasks), _SQS_BATCH):
        batch = tasks[start : start + _SQS_BATCH]
        answer = sqs_client().send_message_batch(
            QueueUrl=queue_url,
            Entries=[{"Id": str(task.index), "MessageBody": task.model_dump_json()} for task in batch],
        )
        failed = answer.get("Failed", [])
        if failed:
            raise QueueSendFailed(
                f"SQS refused {len(failed)} download message(s): {failed[0].get('Message')}"
            )
