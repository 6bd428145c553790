"""The DynamoDB stream event source mapping, locally, as Lambda runs it from template.yaml.

One poller per mapping reads each shard in order and invokes the function with a genuine stream
event. The checkpoint moves only past records the function handled: a function error (or a
killed execution environment) delivers the same records again, halved when the mapping bisects,
and `batchItemFailures` delivers again from the earliest reported record. A batch still failing
after `MaximumRetryAttempts` is described in a message to the `OnFailure` destination and skipped,
as Lambda does. It reads with the function's role, as Lambda's poller does.
"""

from __future__ import annotations

import json
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from local.runtime import Invocation
from local.template import Template

# How long an idle shard waits before its next read (Lambda polls a stream four times a second).
IDLE_SECONDS = 0.25
# How often new shards are looked for (DynamoDB splits a busy table's shards; moto keeps one).
DISCOVER_SECONDS = 5.0
# Between two deliveries of a failed batch: enough for a replaced environment, still seconds.
RETRY_SECONDS = 0.2


@dataclass(frozen=True)
class StreamTrigger:
    function: str
    table: str  # logical id of the table whose stream it reads
    batch_size: int
    report_batch_item_failures: bool
    bisect: bool
    max_retries: int  # -1: until the record expires
    on_failure: str | None  # logical id of the SQS queue


def stream_triggers(template: Template) -> list[StreamTrigger]:
    triggers = []
    for name, spec in template.of_type("AWS::Serverless::Function").items():
        for event in spec.get("Properties", {}).get("Events", {}).values():
            if event.get("Type") != "DynamoDB":
                continue
            properties = event["Properties"]
            destination = properties.get("DestinationConfig", {}).get("OnFailure", {}).get("Destination")
            triggers.append(
                StreamTrigger(
                    function=name,
                    table=properties["Stream"]["Fn::GetAtt"][0],
                    batch_size=int(properties.get("BatchSize", 100)),
                    report_batch_item_failures="ReportBatchItemFailures"
                    in properties.get("FunctionResponseTypes", []),
                    bisect=bool(properties.get("BisectBatchOnFunctionError", False)),
                    max_retries=int(properties.get("MaximumRetryAttempts", -1)),
                    on_failure=destination["Fn::GetAtt"][0] if isinstance(destination, dict) else None,
                )
            )
    return triggers


@dataclass
class _Shard:
    shard_id: str
    iterator: str | None = None
    checkpoint: str | None = None  # the last sequence number handled
    attempts: int = 0  # failed deliveries of the batch starting after the checkpoint
    limit: int = 0  # records per delivery (bisected after a function error)


@dataclass
class Counters:
    """What the poller did, for tests and the operator: invocations by outcome, records skipped."""

    invoked: int = 0  # invocations started
    delivered: int = 0
    failed: int = 0
    skipped_records: int = 0
    lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def add(self, **counts: int) -> None:
        with self.lock:
            for name, count in counts.items():
                setattr(self, name, getattr(self, name) + count)


class StreamPoller:
    def __init__(
        self,
        trigger: StreamTrigger,
        streams: Any,
        stream_arn: str,
        region: str,
        invoke: Callable[[str, dict[str, Any]], Invocation],
        sqs: Any = None,
        failure_queue_url: str | None = None,
    ) -> None:
        self.trigger = trigger
        self.streams = streams
        self.stream_arn = stream_arn
        self.region = region
        self.invoke = invoke
        self.sqs = sqs
        self.failure_queue_url = failure_queue_url
        self.counters = Counters()
        self._shards: dict[str, _Shard] = {}
        self._start_after: str | None = None
        self._last_error: str | None = None
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name=f"stream-{trigger.function}", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def start_after(self, sequence_number: str) -> None:
        """Read from just after this record instead of the oldest (tests: one stream, many readers)."""
        self._start_after = sequence_number

    def stop(self, wait_seconds: float = 0) -> None:
        self._stop.set()
        if wait_seconds and self._thread.is_alive():
            self._thread.join(timeout=wait_seconds)

    def _run(self) -> None:
        discovered_at = -DISCOVER_SECONDS
        while not self._stop.is_set():
            busy = False
            try:
                if time.monotonic() - discovered_at >= DISCOVER_SECONDS or not self._shards:
                    self._discover_shards()
                    discovered_at = time.monotonic()
                for shard in list(self._shards.values()):
                    busy = self._poll(shard) or busy
            except Exception as error:  # the endpoint hiccuped or is going away: read again
                self._report(error)
                for shard in self._shards.values():
                    shard.iterator = None  # from each checkpoint again: an iterator may have expired
                busy = False
            if not busy:
                self._stop.wait(IDLE_SECONDS)

    def _report(self, error: Exception) -> None:
        """Say once on the console why the mapping cannot read (an AccessDenied of the function's
        role, say), as Lambda shows it in the mapping's state; not while the stack stops."""
        message = f"{type(error).__name__}: {error}"
        if self._stop.is_set() or message == self._last_error:
            return
        self._last_error = message
        print(
            f"local stack: {self.trigger.function}'s stream mapping: {message}", file=sys.stderr, flush=True
        )

    def _discover_shards(self) -> None:
        description = self.streams.describe_stream(StreamArn=self.stream_arn)["StreamDescription"]
        for shard in description.get("Shards", []):
            if shard["ShardId"] not in self._shards:
                self._shards[shard["ShardId"]] = _Shard(
                    shard["ShardId"], checkpoint=self._start_after, limit=self.trigger.batch_size
                )

    def _iterator(self, shard: _Shard) -> str:
        if shard.checkpoint is None:
            kind: dict[str, str] = {"ShardIteratorType": "TRIM_HORIZON"}
        else:
            kind = {"ShardIteratorType": "AFTER_SEQUENCE_NUMBER", "SequenceNumber": shard.checkpoint}
        answer = self.streams.get_shard_iterator(StreamArn=self.stream_arn, ShardId=shard.shard_id, **kind)
        return str(answer["ShardIterator"])

    def _poll(self, shard: _Shard) -> bool:
        """Read and deliver one batch of the shard; True when there was one."""
        if shard.iterator is None:
            shard.iterator = self._iterator(shard)
        answer = self.streams.get_records(ShardIterator=shard.iterator, Limit=shard.limit)
        records = answer.get("Records", [])
        if not records:
            shard.iterator = answer.get("NextShardIterator") or None
            return False
        handled = self._deliver(shard, records)
        if handled == len(records):
            shard.checkpoint = records[-1]["dynamodb"]["SequenceNumber"]
            shard.iterator = answer.get("NextShardIterator") or None
            shard.attempts, shard.limit = 0, self.trigger.batch_size
            return True
        # From the checkpoint again: past what was handled, at the first record that was not.
        if handled:
            shard.checkpoint = records[handled - 1]["dynamodb"]["SequenceNumber"]
            shard.attempts = 0
        else:
            shard.attempts += 1
        shard.iterator = None
        if 0 <= self.trigger.max_retries < shard.attempts:
            self._give_up(shard, records[handled:])
        self._stop.wait(RETRY_SECONDS)
        return True

    def _deliver(self, shard: _Shard, records: list[dict[str, Any]]) -> int:
        """Invoke the function; how many records from the start of the batch it handled."""
        self.counters.add(invoked=1)
        result = self.invoke(self.trigger.function, self.event_for(records))
        if not result.ok:
            self.counters.add(failed=1)
            if self.trigger.bisect and len(records) > 1:
                shard.limit = max(1, len(records) // 2)
            return 0
        sequences = [record["dynamodb"]["SequenceNumber"] for record in records]
        failures = (
            (result.payload or {}).get("batchItemFailures") or []
            if self.trigger.report_batch_item_failures and isinstance(result.payload, dict)
            else []
        )
        reported = [str(failure.get("itemIdentifier")) for failure in failures if isinstance(failure, dict)]
        if not reported:
            self.counters.add(delivered=1)
            return len(records)
        self.counters.add(failed=1)
        # Like Lambda: an identifier not in the batch fails the whole batch.
        if any(sequence not in sequences for sequence in reported):
            return 0
        return min(sequences.index(sequence) for sequence in reported)

    def _give_up(self, shard: _Shard, records: list[dict[str, Any]]) -> None:
        """Skip the failing batch, telling the on-failure destination which records it was."""
        batch = records[: shard.limit]
        if self.sqs is not None and self.failure_queue_url:
            self.sqs.send_message(
                QueueUrl=self.failure_queue_url, MessageBody=json.dumps(self._failure(shard, batch))
            )
        shard.checkpoint = batch[-1]["dynamodb"]["SequenceNumber"]
        shard.attempts, shard.limit = 0, self.trigger.batch_size
        self.counters.add(skipped_records=len(batch))

    def _failure(self, shard: _Shard, batch: list[dict[str, Any]]) -> dict[str, Any]:
        """Lambda's on-failure record for a stream batch."""
        return {
            "requestContext": {
                "condition": "RetryAttemptsExhausted",
                "approximateInvokeCount": shard.attempts,
            },
            "DDBStreamBatchInfo": {
                "shardId": shard.shard_id,
                "startSequenceNumber": batch[0]["dynamodb"]["SequenceNumber"],
                "endSequenceNumber": batch[-1]["dynamodb"]["SequenceNumber"],
                "batchSize": len(batch),
                "streamArn": self.stream_arn,
            },
            "timestamp": datetime.now(UTC).isoformat(),
        }

    def event_for(self, records: list[dict[str, Any]]) -> dict[str, Any]:
        return {"Records": [self._record(record) for record in records]}

    def _record(self, record: dict[str, Any]) -> dict[str, Any]:
        change = dict(record["dynamodb"])
        created = change.get("ApproximateCreationDateTime")
        if isinstance(created, datetime):  # boto3 parses it; Lambda sends epoch seconds
            change["ApproximateCreationDateTime"] = int(created.timestamp())
        return {
            "eventID": record["eventID"],
            "eventName": record["eventName"],
            "eventVersion": "1.1",
            "eventSource": "aws:dynamodb",
            "awsRegion": self.region,
            "dynamodb": change,
            "eventSourceARN": self.stream_arn,
        }
