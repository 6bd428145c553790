"""The local stack's AWS endpoint: the moto server, with DynamoDB's item-level atomicity restored.

moto serves requests on threads and evaluates a conditional write as check-then-set without a
lock, so two concurrent conditional UpdateItems can both succeed (measured: 1 in 200 bursts of
10). DynamoDB never allows that, and the pipeline's exactly-once guarantees (one project per
Idempotency-Key, one download message per output) rest on it. Every DynamoDB item operation is
therefore serialized here, with the table's stream reads.

A cancelled TransactWriteItems is rolled back by putting deep copies of its tables, taken before
it, in the tables' place: the copies come with copies of the tables' streams, while every shard
iterator handed out before still reads the old stream object, which no write reaches any more.
A stream reader (the events function's mapping) then sees the cancelled writes' records and none
after them: every later job event was lost, after the first transaction cancelled by a
condition (a budget refused, a slot already given back). Here the rollback keeps each table's
one stream, without the cancelled writes' records, as DynamoDB writes none for a cancelled
transaction; nothing else about moto changes.

Usage: python -m local.moto_server -H 127.0.0.1 -p 5000   (the same arguments as moto_server)
"""

from __future__ import annotations

import functools
import threading
from collections.abc import Callable
from typing import Any

from moto.dynamodb.models import DynamoDBBackend
from moto.dynamodbstreams.models import DynamoDBStreamsBackend
from moto.server import main

_ITEM_OPERATIONS = (
    "put_item",
    "update_item",
    "delete_item",
    "get_item",
    "query",
    "scan",
    "batch_write_item",
    "batch_get_item",
    "transact_write_items",
    "transact_get_items",
)
# Stream reads take the lock too, so no reader sees a transaction's records before it is decided.
_STREAM_OPERATIONS = ("describe_stream", "get_shard_iterator", "get_records")
_LOCK = threading.RLock()


def _atomic(operation: Callable[..., Any]) -> Callable[..., Any]:
    @functools.wraps(operation)
    def serialized(*args: Any, **kwargs: Any) -> Any:
        with _LOCK:
            return operation(*args, **kwargs)

    return serialized


def _keeping_streams(transact: Callable[..., Any]) -> Callable[..., Any]:
    @functools.wraps(transact)
    def transact_write_items(backend: DynamoDBBackend, transact_items: list[dict[str, Any]]) -> Any:
        names = {op.get("TableName") for item in transact_items for op in item.values()}
        live = {name: backend.tables[name] for name in names if name in backend.tables}
        lengths = {name: len(t.stream_shard.items) for name, t in live.items() if t.stream_shard}
        try:
            return transact(backend, transact_items)
        except BaseException:
            for name, table in live.items():
                restored, shard = backend.tables.get(name), table.stream_shard
                if restored is None or restored is table or shard is None:
                    continue
                # Under the lock no other write came between: the records past `lengths` are
                # the cancelled transaction's own.
                del shard.items[lengths.get(name, 0) :]
                shard.table = restored
                restored.stream_shard = shard
            raise

    return transact_write_items


def make_dynamodb_atomic() -> None:
    DynamoDBBackend.transact_write_items = _keeping_streams(DynamoDBBackend.transact_write_items)  # type: ignore[method-assign]
    for name in _ITEM_OPERATIONS:
        setattr(DynamoDBBackend, name, _atomic(getattr(DynamoDBBackend, name)))
    for name in _STREAM_OPERATIONS:
        setattr(DynamoDBStreamsBackend, name, _atomic(getattr(DynamoDBStreamsBackend, name)))


if __name__ == "__main__":
    make_dynamodb_atomic()
    # The local stack's first request is a CloudFormation create_stack, whose first use imports
    # every service's models (0.8 s). Importing them here, before the server answers, lets that
    # overlap with the local stack's own start-up instead of following it.
    import moto.cloudformation.parsing  # noqa: F401

    main()
