"""The local stack's AWS endpoint: the moto server, with DynamoDB's item-level atomicity restored.

moto serves requests on threads and evaluates a conditional write as check-then-set without a
lock, so two concurrent conditional UpdateItems can both succeed (measured: 1 in 200 bursts of
10). DynamoDB never allows that, and the pipeline's exactly-once guarantees (one project per
Idempotency-Key, one download message per output) rest on it. Every DynamoDB item operation is
therefore serialized here; nothing else about moto changes.

Usage: python -m local.moto_server -H 127.0.0.1 -p 5000   (the same arguments as moto_server)
"""

from __future__ import annotations

import functools
import threading
from collections.abc import Callable
from typing import Any

from moto.dynamodb.models import DynamoDBBackend
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
_LOCK = threading.RLock()


def _atomic(operation: Callable[..., Any]) -> Callable[..., Any]:
    @functools.wraps(operation)
    def serialized(*args: Any, **kwargs: Any) -> Any:
        with _LOCK:
            return operation(*args, **kwargs)

    return serialized


def make_dynamodb_atomic() -> None:
    for name in _ITEM_OPERATIONS:
        setattr(DynamoDBBackend, name, _atomic(getattr(DynamoDBBackend, name)))


if __name__ == "__main__":
    make_dynamodb_atomic()
    # The local stack's first request is a CloudFormation create_stack, whose first use imports
    # every service's models (0.8 s). Importing them here, before the server answers, lets that
    # overlap with the local stack's own start-up instead of following it.
    import moto.cloudformation.parsing  # noqa: F401

    main()
