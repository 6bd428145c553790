"""The one way both HTTP functions answer what their routes raise (pipeline.http.install_error_handlers):
a refusal as the wire table says, an unknown route 404, a delivery in progress with its Retry-After,
and anything else through the function's own `on_unexpected`, without the error's text."""

from __future__ import annotations

import json
from typing import Any

import pytest
from aws_lambda_powertools.event_handler import APIGatewayRestResolver, Response

from pipeline import http
from pipeline.jobs import errors


@pytest.fixture
def app() -> tuple[APIGatewayRestResolver, list[Exception]]:
    resolver = APIGatewayRestResolver()
    unexpected: list[Exception] = []

    @resolver.get("/refused")
    def refused() -> Response[str]:
        raise errors.MalformedBody("request body is not valid JSON")

    @resolver.get("/in-progress")
    def in_progress() -> Response[str]:
        raise errors.DeliveryInProgress("the job is mid-way")

    @resolver.get("/broken")
    def broken() -> Response[str]:
        raise RuntimeError("secret detail")

    def on_unexpected(error: Exception) -> Response[str]:
        unexpected.append(error)
        return http.unexpected_response()

    http.install_error_handlers(resolver, on_unexpected)
    return resolver, unexpected


def _call(resolver: APIGatewayRestResolver, path: str) -> dict[str, Any]:
    event = {"httpMethod": "GET", "path": path, "resource": path, "headers": {}, "requestContext": {}}
    return resolver.resolve(event, None)  # type: ignore[arg-type]


def test_each_kind_of_failure_gets_its_answer(app: tuple[APIGatewayRestResolver, list[Exception]]) -> None:
    resolver, unexpected = app
    refused = _call(resolver, "/refused")
    assert (refused["statusCode"], json.loads(refused["body"])["error"]["code"]) == (400, "invalid_json")
    missing = _call(resolver, "/nowhere")
    assert (missing["statusCode"], json.loads(missing["body"])["error"]["code"]) == (404, "not_found")
    in_progress = _call(resolver, "/in-progress")
    assert in_progress["statusCode"] == http.wire_error_of(errors.DeliveryInProgress()).status  # type: ignore[union-attr]
    assert "Retry-After" in (in_progress.get("headers") or {}) or in_progress.get(
        "multiValueHeaders", {}
    ).get("Retry-After")
    assert unexpected == []
    broken = _call(resolver, "/broken")
    assert broken["statusCode"] == http.UNEXPECTED.status
    assert "secret detail" not in broken["body"]
    assert [type(error) for error in unexpected] == [RuntimeError]
