"""What the client routes answer, as OpenAPI sees it: shared by the submit function (the writes)
and the query function (the reads), whose routes together make openapi.json."""

from __future__ import annotations

from aws_lambda_powertools.event_handler.openapi.types import OpenAPIResponse
from pydantic import BaseModel

from pipeline.models.api import ErrorBody

ERROR_DESCRIPTIONS = {
    400: "invalid_json, unknown_tool or invalid_cursor",
    401: "unauthorized: missing or unknown API key",
    402: "insufficient_credits (Magic Hour answered 402) or budget_exceeded (daily credit budget spent)",
    403: (
        "forbidden: a SigV4 signer mapped to no client, or an API key and a signature of different "
        "clients; POST /v1/jobs also plan_restricted: Magic Hour answered 403 (the model, resolution "
        "or feature is not on the plan)"
    ),
    404: "not_found: no such job for this client",
    409: (
        "idempotency_conflict: same Idempotency-Key, different body; idempotency_in_progress: the "
        "first request with this key is still being processed (Retry-After set); not_cancelable: "
        "the job was sent to Magic Hour or has ended"
    ),
    413: "payload_too_large: body over 256 KB",
    422: "validation_failed (details point at the field) or upstream_rejected",
    429: "upload_quota_exceeded: the client's daily upload quota is used up (Retry-After: until 00:00 UTC)",
    502: "upstream_misconfigured: Magic Hour rejected our API key",
    503: "service_unavailable: our own dependency failed; retry (Retry-After set)",
}


def answers(ok: int, model: type[BaseModel], description: str, *errors: int) -> dict[int, OpenAPIResponse]:
    """OpenAPI responses of a route (the committed openapi.json is generated from these)."""
    described: dict[int, OpenAPIResponse] = {
        ok: {"description": description, "content": {"application/json": {"model": model}}}
    }
    for status in (401, 403, *errors):
        described[status] = {
            "description": ERROR_DESCRIPTIONS[status],
            "content": {"application/json": {"model": ErrorBody}},
        }
    return described
