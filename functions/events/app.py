"""Publishes every job status change to the stack's EventBridge bus, from the jobs table's stream.

The stream holds every committed write, whether or not the function that made it lived on after
it, so an event reports a change that happened and is never lost (CONTRACT §1 "Events").
"""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools.utilities.typing import LambdaContext

from pipeline.events import stream
from pipeline.platform.observability import logger, tracer
from pipeline.platform.settings import get_settings

settings = get_settings()


@logger.inject_lambda_context(clear_state=True)
@tracer.capture_lambda_handler
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:  # noqa: ARG001 - stream batch
    failed = stream.publish_records(event.get("Records") or [], settings.require("event_bus_name"))
    return {"batchItemFailures": [{"itemIdentifier": sequence} for sequence in failed]}
