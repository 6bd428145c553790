"""Write openapi.json: our API as Powertools describes its functions' routes (submit, query), plus what
it cannot see (the request body we parse ourselves, the API key, the webhook route).

Usage: python -m scripts.export_openapi [--check]   (--check: fail if the committed file differs)
"""

from __future__ import annotations

import importlib.util
import json
import sys
from typing import Any

from layer_path import ROOT

OUTPUT = ROOT / "openapi.json"


def _routes_of(function: str) -> dict[str, Any]:
    """The OpenAPI document Powertools makes of one function's routes."""
    spec = importlib.util.spec_from_file_location(f"{function}_app", ROOT / "functions" / function / "app.py")
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    described: dict[str, Any] = json.loads(
        module.app.get_openapi_json_schema(
            title="Magic Hour pipeline",
            version="1.0.0",
            summary="Submit Magic Hour jobs; their outputs land verified in S3.",
        )
    )
    return described


def build() -> dict[str, Any]:
    from pipeline.models.api import CreateJobRequest, ErrorBody

    # One API served by two functions: the submit function's writes and the query function's reads.
    document = _routes_of("submit")
    reads = _routes_of("query")
    for path, operations in reads["paths"].items():
        document["paths"].setdefault(path, {}).update(operations)
    document.setdefault("components", {}).setdefault("schemas", {}).update(
        reads.get("components", {}).get("schemas", {})
    )
    schemas = document.setdefault("components", {}).setdefault("schemas", {})
    schemas["CreateJobRequest"] = CreateJobRequest.model_json_schema(
        ref_template="#/components/schemas/{model}"
    )
    document["components"]["securitySchemes"] = {
        "apiKey": {"type": "apiKey", "in": "header", "name": "x-api-key"}
    }
    document["security"] = [{"apiKey": []}]
    create = document["paths"]["/v1/jobs"]["post"]
    create["requestBody"] = {
        "required": True,
        "content": {"application/json": {"schema": {"$ref": "#/components/schemas/CreateJobRequest"}}},
    }
    create["parameters"] = [
        {
            "name": "Idempotency-Key",
            "in": "header",
            "required": False,
            "schema": {"type": "string", "minLength": 1, "maxLength": 255},
        },
    ]
    listing = document["paths"]["/v1/jobs"]["get"]
    listing["parameters"] = [
        {
            "name": "status",
            "in": "query",
            "required": False,
            "schema": {
                "type": "string",
                "enum": [
                    "submitting",
                    "queued",
                    "rendering",
                    "downloading",
                    "completed",
                    "failed",
                    "canceled",
                ],
            },
        },
        {
            "name": "limit",
            "in": "query",
            "required": False,
            "schema": {"type": "integer", "minimum": 1, "maximum": 100, "default": 20},
        },
        {"name": "cursor", "in": "query", "required": False, "schema": {"type": "string"}},
    ]
    error_content = {"application/json": {"schema": {"$ref": "#/components/schemas/ErrorBody"}}}
    responses: dict[str, Any] = {
        str(status): {"description": text, "content": error_content}
        for status, text in (
            (400, "invalid_json, unknown_event or invalid_event"),
            (401, "invalid_signature"),
            (404, "not_found: the plain route is turned off (WebhookPlainRoute=false)"),
            (413, "payload_too_large"),
            (503, "processing failed; Magic Hour retries"),
        )
    } | {"200": {"description": "Received (also for duplicates and unknown projects)"}}
    webhook: dict[str, Any] = {
        "summary": "Magic Hour's webhook deliveries",
        "description": "Authenticated by the magic-hour-event-timestamp and "
        "magic-hour-event-signature headers (hex HMAC-SHA256 of `timestamp.body`), not by an API key.",
        "tags": ["webhooks"],
        "security": [],
        "operationId": "magic_hour_webhook",
        "responses": responses,
    }
    document["paths"]["/webhooks/magic-hour"] = {"post": webhook}
    # The URL registered with Magic Hour: a wrong token is answered as a route that does not exist.
    secret_path = {
        **webhook,
        "summary": "Magic Hour's webhook deliveries, on the secret path registered with Magic Hour",
        "operationId": "magic_hour_webhook_secret_path",
        "parameters": [{"name": "token", "in": "path", "required": True, "schema": {"type": "string"}}],
        "responses": responses
        | {
            "404": {
                "description": "not_found: not the deployment's token (the same answer as no such route)",
                "content": error_content,
            }
        },
    }
    document["paths"]["/webhooks/magic-hour/{token}"] = {"post": secret_path}
    schemas.setdefault("ErrorBody", ErrorBody.model_json_schema(ref_template="#/components/schemas/{model}"))
    for unused in ("HTTPValidationError", "ValidationError", "ResponseValidationError"):
        schemas.pop(unused, None)
    return document


def render() -> str:
    return json.dumps(build(), indent=2, sort_keys=True) + "\n"


def main(argv: list[str]) -> int:
    text = render()
    if "--check" in argv:
        if not OUTPUT.exists() or OUTPUT.read_text() != text:
            print("openapi.json is out of date: run python -m scripts.export_openapi", file=sys.stderr)
            return 1
        return 0
    OUTPUT.write_text(text)
    print(f"wrote {OUTPUT.relative_to(ROOT)}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv))
