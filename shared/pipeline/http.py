"""What the HTTP handlers share: raw body bytes, the caller's identity, JSON answers."""

from __future__ import annotations

import base64
import binascii
import json
from typing import Any

from aws_lambda_powertools.event_handler import Response
from aws_lambda_powertools.utilities.data_classes import APIGatewayProxyEvent
from pydantic import BaseModel

from pipeline.logic.api_errors import ApiError, unauthorized

JSON = "application/json"


def raw_body(event: APIGatewayProxyEvent) -> bytes:
    """The body exactly as the caller sent it, whether or not API Gateway base64-encoded it."""
    body = event.body or ""
    if event.is_base64_encoded:
        try:
            return base64.b64decode(body, validate=True)
        except (binascii.Error, ValueError) as exc:
            raise ApiError(400, "invalid_json", "request body is not valid base64") from exc
    return body.encode("utf-8")


def client_id_of(event: APIGatewayProxyEvent) -> str:
    """The client is the API key's id, as API Gateway resolved it from `x-api-key`."""
    key_id = event.request_context.identity.api_key_id
    if not key_id:
        raise unauthorized()
    return key_id


def json_response(
    status: int, payload: BaseModel | dict[str, Any], headers: dict[str, str] | None = None
) -> Response[str]:
    body = payload.model_dump_json() if isinstance(payload, BaseModel) else json.dumps(payload)
    return Response(status_code=status, content_type=JSON, body=body, headers=headers or {})


def error_response(error: ApiError) -> Response[str]:
    return Response(
        status_code=error.status, content_type=JSON, body=error.body_json(), headers=error.headers
    )
