"""One Magic Hour webhook delivery: authenticate, parse, apply."""

from __future__ import annotations

from pydantic import TypeAdapter, ValidationError

from pipeline.jobs import errors, transitions
from pipeline.models.webhook_events import EVENT_TYPES, WebhookEvent
from pipeline.platform import strict_json
from pipeline.platform.observability import CREDITS_OUT_OF_RANGE, WEBHOOKS, emit, logger
from pipeline.webhook.signature import InvalidSignature, verify

MAX_WEBHOOK_BYTES = 1024 * 1024
_EVENT_ADAPTER: TypeAdapter[WebhookEvent] = TypeAdapter(WebhookEvent)


def authenticate(
    raw_body: bytes,
    timestamp: str | None,
    signature: str | None,
    secrets: list[str],
    now: int,
    tolerance: int,
) -> None:
    if len(raw_body) > MAX_WEBHOOK_BYTES:
        raise errors.BodyTooLarge("webhook body is over 1 MB")
    try:
        verify(raw_body, timestamp, signature, secrets, now, tolerance)
    except InvalidSignature as refused:
        emit(WEBHOOKS, outcome="signature_rejected")
        logger.warning("webhook refused", extra={"reason": str(refused)})
        raise errors.SignatureRejected("missing, stale or invalid webhook signature") from refused


def parse(raw_body: bytes) -> WebhookEvent:
    """A signed body that is not a known event is Magic Hour's problem or ours, never a reason to
    guess: answer 400 (Magic Hour retries) and make it visible."""
    try:
        # pydantic's own parser takes NaN and Infinity (then reports a bad `type`): JSON as the
        # RFC says first, so a body that is not JSON is called that.
        strict_json.loads(raw_body)
    except strict_json.NotJson as exc:
        emit(WEBHOOKS, outcome="malformed")
        logger.error("signed webhook body is not strict JSON")
        raise errors.MalformedBody("webhook body is not valid JSON") from exc
    try:
        event = _EVENT_ADAPTER.validate_json(raw_body)
    except ValidationError as exc:
        emit(WEBHOOKS, outcome="malformed")
        kinds = {error["type"] for error in exc.errors()}
        top_level = {error["type"] for error in exc.errors() if not error["loc"]}
        if "json_invalid" in kinds or top_level & {"model_type", "dict_type", "model_attributes_type"}:
            logger.error("signed webhook body is not a JSON object")
            raise errors.MalformedBody("webhook body is not a JSON object") from exc
        if any(error["type"] in ("union_tag_invalid", "union_tag_not_found") for error in exc.errors()):
            logger.error("signed webhook of unknown type")
            raise errors.UnknownEvent(f"event type must be one of {sorted(EVENT_TYPES)}") from exc
        logger.error("signed webhook does not match its event schema", extra={"errors": _loggable(exc)})
        raise errors.InvalidEvent(
            "webhook payload does not match its event schema",
            details=[{"loc": list(error["loc"]), "msg": error["msg"]} for error in exc.errors()[:10]],
        ) from exc
    if event.payload.credits_out_of_range:
        # Applied all the same (the project is real and paid for), with credits unknown.
        emit(CREDITS_OUT_OF_RANGE)
        logger.warning("webhook credits_charged out of range", extra={"project_id": event.payload.id})
    return event


def _loggable(exc: ValidationError) -> list[dict[str, object]]:
    # loc, msg and type only: pydantic's `input` would carry Magic Hour's signed download URLs.
    return [
        dict(error) for error in exc.errors(include_url=False, include_context=False, include_input=False)[:3]
    ]


def apply(event: WebhookEvent) -> transitions.Outcome:
    payload = event.payload
    update = transitions.ProjectUpdate(
        kind=event.kind,
        project_id=payload.id,
        event=event.event,
        name=payload.name,
        credits_charged=payload.credits_charged,
        downloads=payload.downloads,
        error=payload.error,
    )
    outcome = transitions.apply(update)
    emit(WEBHOOKS, outcome=outcome.value)
    logger.info("webhook applied", extra={"type": event.type, "project_id": payload.id, "outcome": outcome})
    return outcome
