"""The SQS event source mapping, locally: poll, invoke with a genuine SQS event, delete what
succeeded (honouring `batchItemFailures`), leave the rest for SQS to redeliver or dead-letter."""

from __future__ import annotations

import contextlib
import hashlib
import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from local.runtime import Invocation
from local.template import QueueTrigger


class QueuePoller:
    def __init__(
        self,
        trigger: QueueTrigger,
        sqs: Any,
        queue_url: str,
        queue_arn: str,
        region: str,
        invoke: Callable[[str, dict[str, Any]], Invocation],
        concurrency: int,
        failure_visibility_seconds: int,
        local_sqs: Any = None,
    ) -> None:
        self.trigger = trigger
        self.sqs = sqs
        # Shortening a failed batch's visibility is the local stack's own speed-up, not a call
        # Lambda's poller makes, so it is not checked against the function's role.
        self.local_sqs = local_sqs or sqs
        self.queue_url = queue_url
        self.queue_arn = queue_arn
        self.region = region
        self.invoke = invoke
        self.failure_visibility_seconds = failure_visibility_seconds
        self._stop = threading.Event()
        self._slots = threading.Semaphore(concurrency)
        self._pool = ThreadPoolExecutor(max_workers=concurrency, thread_name_prefix=f"sqs-{trigger.function}")
        self._thread = threading.Thread(target=self._run, name=f"poller-{trigger.function}", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self, wait_seconds: float = 0) -> None:
        """Stop polling; with `wait_seconds`, also wait for the last long poll to end."""
        self._stop.set()
        self._pool.shutdown(wait=False, cancel_futures=True)
        if wait_seconds and self._thread.is_alive():
            self._thread.join(timeout=wait_seconds)

    def _run(self) -> None:
        while not self._stop.is_set():
            self._slots.acquire()
            try:
                answer = self.sqs.receive_message(
                    QueueUrl=self.queue_url,
                    MaxNumberOfMessages=min(self.trigger.batch_size, 10),
                    WaitTimeSeconds=1,
                    AttributeNames=["All"],
                    MessageAttributeNames=["All"],
                )
            except Exception:  # the endpoint is going away (shutdown) or hiccuped
                self._slots.release()
                self._stop.wait(0.5)
                continue
            messages = answer.get("Messages", [])
            if not messages or self._stop.is_set():
                # Stopping: what was just received comes back after its visibility timeout.
                self._slots.release()
                continue
            self._pool.submit(self._deliver, messages)

    def _deliver(self, messages: list[dict[str, Any]]) -> None:
        try:
            result = self.invoke(self.trigger.function, self.event_for(messages))
            failed_ids = self._failed_ids(result, messages)
            done = [m for m in messages if m["MessageId"] not in failed_ids]
            if done:
                self.sqs.delete_message_batch(
                    QueueUrl=self.queue_url,
                    Entries=[{"Id": str(i), "ReceiptHandle": m["ReceiptHandle"]} for i, m in enumerate(done)],
                )
            if not result.ok:
                # Production would wait out the full visibility timeout; locally retry within seconds.
                for message in messages:
                    self._shorten_visibility(message)
        finally:
            self._slots.release()

    def _shorten_visibility(self, message: dict[str, Any]) -> None:
        # If this fails the message simply comes back after the queue's own visibility timeout.
        with contextlib.suppress(Exception):
            self.local_sqs.change_message_visibility(
                QueueUrl=self.queue_url,
                ReceiptHandle=message["ReceiptHandle"],
                VisibilityTimeout=self.failure_visibility_seconds,
            )

    def _failed_ids(self, result: Invocation, messages: list[dict[str, Any]]) -> set[str]:
        all_ids = {m["MessageId"] for m in messages}
        if not result.ok or not isinstance(result.payload, dict):
            return all_ids
        if not self.trigger.report_batch_item_failures:
            return set()
        failures = result.payload.get("batchItemFailures") or []
        ids = {str(failure.get("itemIdentifier")) for failure in failures if isinstance(failure, dict)}
        # Like Lambda: an identifier that is not in the batch fails the whole batch.
        return all_ids if ids - all_ids else ids

    def event_for(self, messages: list[dict[str, Any]]) -> dict[str, Any]:
        return {"Records": [self._record(message) for message in messages]}

    def _record(self, message: dict[str, Any]) -> dict[str, Any]:
        attributes = message.get("MessageAttributes") or {}
        return {
            "messageId": message["MessageId"],
            "receiptHandle": message["ReceiptHandle"],
            "body": message["Body"],
            "attributes": message.get("Attributes", {}),
            "messageAttributes": {
                name: {
                    "stringValue": value.get("StringValue"),
                    "binaryValue": value.get("BinaryValue"),
                    "stringListValues": [],
                    "binaryListValues": [],
                    "dataType": value.get("DataType"),
                }
                for name, value in attributes.items()
            },
            "md5OfBody": message.get("MD5OfBody") or hashlib.md5(message["Body"].encode()).hexdigest(),  # noqa: S324
            "eventSource": "aws:sqs",
            "eventSourceARN": self.queue_arn,
            "awsRegion": self.region,
        }
