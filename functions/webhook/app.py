"""Magic Hour's webhook deliveries: authentic, idempotent, order-proof, answered fast.

No call to Magic Hour and no download happens here: the handler verifies, records the state change
with conditional writes and queues downloads, so it answers in milliseconds.
"""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools.event_handler import APIGatewayRestResolver, Response
from aws_lambda_powertools.logging import correlation_paths
from aws_lambda_powertools.utilities.typing import LambdaContext

from pipeline.http import install_error_handlers, json_response, raw_body, unexpected_response
from pipeline.jobs import errors
from pipeline.platform import secret_store
from pipeline.platform.observability import WEBHOOKS, emit, logger, tracer
from pipeline.platform.settings import get_settings
from pipeline.platform.timeutil import epoch_seconds
from pipeline.webhook import path_token, webhook_delivery

app = APIGatewayRestResolver()
settings = get_settings()


@app.post("/webhooks/magic-hour")
@tracer.capture_method
def receive() -> Response[str]:
    if not settings.webhook_plain_route:
        # Turned off by the deployer (WebhookPlainRoute): the same answer as a route never made.
        emit(WEBHOOKS, outcome="wrong_path")
        raise errors.RouteNotFound()
    return _deliver()


# Registered with Magic Hour as its webhook URL (docs/runbook.md): an anonymous flood of the plain
# route cannot use up this route's throttle. The token is never logged: log lines, traces of this
# function and the access log carry the route template, not the path.
@app.post("/webhooks/magic-hour/<token>")
@tracer.capture_method
def receive_on_secret_path(token: str) -> Response[str]:
    if not path_token.accepted(token, secret_store.webhook_path_tokens()):
        emit(WEBHOOKS, outcome="wrong_path")
        raise errors.RouteNotFound()
    return _deliver()


def _deliver() -> Response[str]:
    event = app.current_event
    body = raw_body(event)
    webhook_delivery.authenticate(
        body,
        event.headers.get("magic-hour-event-timestamp"),
        event.headers.get("magic-hour-event-signature"),
        secret_store.webhook_secrets(),
        epoch_seconds(),
        settings.webhook_tolerance_seconds,
    )
    outcome = webhook_delivery.apply(webhook_delivery.parse(body))
    return json_response(200, {"received": True, "outcome": outcome.value})


def handle_unexpected(_: Exception) -> Response[str]:
    # A 5xx makes Magic Hour retry; every write above is conditional, so the retry is safe.
    logger.exception("webhook processing failed")
    emit(WEBHOOKS, outcome="processing_failed")
    return unexpected_response("could not process the delivery; retry")


install_error_handlers(app, handle_unexpected)


@logger.inject_lambda_context(correlation_id_path=correlation_paths.API_GATEWAY_REST, clear_state=True)
@tracer.capture_lambda_handler
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    return app.resolve(event, context)
