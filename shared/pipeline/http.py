"""What the HTTP handlers share: raw body bytes, the caller's identity, JSON answers, and the one
table that says how each refusal of the logic is answered on the wire (docs/api.md, "Errors")."""

from __future__ import annotations

import base64
import binascii
import json
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from aws_lambda_powertools.event_handler import APIGatewayRestResolver, Response
from aws_lambda_powertools.utilities.data_classes import APIGatewayProxyEvent
from pydantic import BaseModel

from pipeline import callers
from pipeline.jobs import errors
from pipeline.platform.observability import logger
from pipeline.platform.settings import get_settings

JSON = "application/json"

# Retry-After of a create that failed on our Magic Hour key being unreadable (Secrets Manager):
# such a failure clears in seconds, and nothing was created, so a prompt retry is safe.
DEPENDENCY_RETRY_AFTER_SECONDS = 5
# Retry-After of an error we did not foresee (a dependency down, a bug): short, because most are
# transient, and every write before the failure was conditional, so the retry is safe.
UNEXPECTED_RETRY_AFTER_SECONDS = 2
# Retry-After of a duplicate whose first request is still creating the project: that request
# usually answers within a second, and the retry waits for it again (a few seconds) server-side.
IN_PROGRESS_RETRY_AFTER_SECONDS = 1
# Retry-After of a webhook delivery that cannot be applied yet: another delivery of the same job is
# queueing its downloads, and holds a lease on it for seconds.
WEBHOOK_RETRY_LATER_SECONDS = 5


@dataclass(frozen=True)
class WireError:
    status: int
    code: str
    # Seconds for Retry-After; an error that carries `retry_after_seconds` overrides it.
    retry_after: int | None = None


# Every refusal the logic raises, and how it is answered. A unit test fails when an exception of
# pipeline.jobs.errors is missing here, and docs/api.md must name every code.
WIRE_ERRORS: dict[type[Exception], WireError] = {
    errors.MalformedBody: WireError(400, "invalid_json"),
    errors.UnknownTool: WireError(400, "unknown_tool"),
    errors.InvalidCursor: WireError(400, "invalid_cursor"),
    errors.UnknownEvent: WireError(400, "unknown_event"),
    errors.InvalidEvent: WireError(400, "invalid_event"),
    errors.Unauthenticated: WireError(401, "unauthorized"),
    errors.Forbidden: WireError(403, "forbidden"),
    errors.SignatureRejected: WireError(401, "invalid_signature"),
    errors.InsufficientCredits: WireError(402, "insufficient_credits"),
    errors.BudgetExceeded: WireError(402, "budget_exceeded"),
    errors.PlanRestricted: WireError(403, "plan_restricted"),
    errors.UploadQuotaExceeded: WireError(429, "upload_quota_exceeded"),
    errors.JobNotFound: WireError(404, "not_found"),
    errors.RouteNotFound: WireError(404, "not_found"),
    errors.BatchNotFound: WireError(404, "not_found"),
    errors.IdempotencyConflict: WireError(409, "idempotency_conflict"),
    # 409, as the IETF Idempotency-Key draft answers a retry while the original is in flight.
    errors.RequestInProgress: WireError(409, "idempotency_in_progress", IN_PROGRESS_RETRY_AFTER_SECONDS),
    errors.NotCancelable: WireError(409, "not_cancelable"),
    errors.BodyTooLarge: WireError(413, "payload_too_large"),
    errors.ValidationFailed: WireError(422, "validation_failed"),
    errors.UpstreamRejected: WireError(422, "upstream_rejected"),
    errors.UpstreamMisconfigured: WireError(502, "upstream_misconfigured"),
    errors.DependencyUnavailable: WireError(503, "service_unavailable", DEPENDENCY_RETRY_AFTER_SECONDS),
    errors.DeliveryInProgress: WireError(503, "retry_later", WEBHOOK_RETRY_LATER_SECONDS),
}
UNEXPECTED = WireError(503, "service_unavailable", UNEXPECTED_RETRY_AFTER_SECONDS)


def wire_error_of(error: Exception) -> WireError | None:
    for kind in type(error).__mro__:
        if kind in WIRE_ERRORS:
            return WIRE_ERRORS[kind]
    return None


def raw_body(event: APIGatewayProxyEvent) -> bytes:
    """The body exactly as the caller sent it, whether or not API Gateway base64-encoded it."""
    body = event.body or ""
    if event.is_base64_encoded:
        try:
            return base64.b64decode(body, validate=True)
        except (binascii.Error, ValueError) as exc:
            raise errors.MalformedBody("request body is not valid base64") from exc
    return body.encode("utf-8")


def client_id_of(event: APIGatewayProxyEvent) -> str:
    """The caller's client: the API key's id, as API Gateway resolved it from `x-api-key`, or the
    client a SigV4 signer (`identity.userArn`, verified by API Gateway) is mapped to."""
    return callers.client_of(
        event.request_context.identity.api_key_id,
        event.request_context.identity.user_arn,
        get_settings().caller_auth,
    )


def json_response(
    status: int, payload: BaseModel | dict[str, Any], headers: dict[str, str] | None = None
) -> Response[str]:
    body = payload.model_dump_json() if isinstance(payload, BaseModel) else json.dumps(payload)
    return Response(status_code=status, content_type=JSON, body=body, headers=headers or {})


def error_body(code: str, message: str, details: list[dict[str, Any]] | None = None) -> dict[str, Any]:
    error: dict[str, Any] = {"code": code, "message": message}
    if details:
        error["details"] = details
    return {"error": error}


def _answer(
    wire: WireError, message: str, details: list[dict[str, Any]] | None, retry_after: int | None
) -> Response[str]:
    headers = {"Retry-After": str(retry_after)} if retry_after is not None else {}
    body = json.dumps(error_body(wire.code, message, details), separators=(",", ":"))
    return Response(status_code=wire.status, content_type=JSON, body=body, headers=headers)


def error_response(error: Exception) -> Response[str]:
    """The answer to a refusal of the logic (or to a delivery in progress). Anything not in the table is ours
    and answered as `unexpected_response` says, without its text."""
    wire = wire_error_of(error)
    if wire is None:
        return unexpected_response()
    retry_after = getattr(error, "retry_after_seconds", None) or wire.retry_after
    if isinstance(error, errors.RequestRefused):
        return _answer(wire, error.message, error.details, retry_after)
    return _answer(wire, str(error), None, retry_after)


def unexpected_response(
    message: str = "the service could not complete the request; retry shortly",
) -> Response[str]:
    return _answer(UNEXPECTED, message, None, UNEXPECTED.retry_after)


def install_error_handlers(
    app: APIGatewayRestResolver, on_unexpected: Callable[[Exception], Response[str]]
) -> None:
    """The one way a resolver answers what its routes raise: a refusal of the logic (or a
    delivery in progress) as the wire table says, a 5xx one logged; an unknown route 404
    `not_found`; anything else through `on_unexpected`, the function's own log line, metric and
    words (it must answer without the error's text)."""

    @app.exception_handler([errors.RequestRefused, errors.DeliveryInProgress])
    def handle_refused(error: Exception) -> Response[str]:
        response = error_response(error)
        if response.status_code >= 500:
            logger.warning(
                "request failed", extra={"error": type(error).__name__, "status": response.status_code}
            )
        return response

    @app.not_found
    def handle_not_found(_: Exception) -> Response[str]:
        return error_response(errors.RouteNotFound())

    app.exception_handler(Exception)(on_unexpected)
