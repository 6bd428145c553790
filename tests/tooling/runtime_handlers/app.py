"""Handlers for the local runtime's own tests (tests/tooling/test_lambda_limits.py): each does
one thing a Lambda limit must stop. They talk to the AWS endpoint the test gives them."""

from __future__ import annotations

import os
import time
from typing import Any

import boto3


def _bucket() -> Any:
    return boto3.client("s3", endpoint_url=os.environ["AWS_ENDPOINT_URL"], region_name="us-east-1")


def sleep_then_write(event: dict[str, Any], context: Any) -> dict[str, Any]:
    """Marks that it started, sleeps past its deadline if asked, then writes: the write must never
    land when the runtime stops it at its Timeout."""
    s3 = _bucket()
    s3.put_object(Bucket=event["bucket"], Key=f"{event['key']}/started", Body=b"")
    time.sleep(event["sleep"])
    s3.put_object(Bucket=event["bucket"], Key=f"{event['key']}/late", Body=b"")
    return {"remaining_ms": context.get_remaining_time_in_millis()}


def sleep(event: dict[str, Any], context: Any) -> dict[str, Any]:
    time.sleep(event.get("sleep", 0))
    return {"pid": os.getpid(), "request_id": context.aws_request_id}


def allocate(event: dict[str, Any], context: Any) -> dict[str, Any]:
    """Holds `mib` MiB (touched, so resident) for a moment, as a function that needs that much."""
    held = [bytearray(1024 * 1024) for _ in range(event["mib"])]
    time.sleep(event.get("hold", 0.3))
    return {"held_mib": len(held), "pid": os.getpid()}


def answer_of(event: dict[str, Any], context: Any) -> dict[str, Any]:
    """Returns a body of `size` bytes, as an API function would."""
    return {"statusCode": 200, "body": "x" * event["size"]}
