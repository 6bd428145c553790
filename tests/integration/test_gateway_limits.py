"""The local gateway answers Lambda's 6 MB payload limits as API Gateway does: an event over 6 MiB
(the body as the function would get it, base64 for binary types) never reaches the function and
is the template's JSON 413; a function answer over Lambda's limit is a 502 in our error shape."""

from __future__ import annotations

import json
from typing import Any

import requests

from local.gateway import Gateway
from local.runtime import Invocation
from local.template import Template, load_template

MIB = 1024 * 1024


def _get_tools(stack: Any, body: bytes, content_type: str = "application/json") -> requests.Response:
    # GET /v1/tools ignores any body: whatever it answers, the function ran.
    headers = {**stack.headers(), "Content-Type": content_type}
    return requests.get(f"{stack.api}/v1/tools", data=body, headers=headers, timeout=60)


def test_a_request_whose_event_passes_6_mb_is_a_json_413_before_the_function(stack: Any) -> None:
    assert _get_tools(stack, b" " * (6 * MIB - 64 * 1024)).status_code == 200
    answer = _get_tools(stack, b" " * (6 * MIB + 1))
    assert answer.status_code == 413
    assert answer.json()["error"]["code"] == "payload_too_large"


def test_a_binary_body_counts_at_its_base64_size(stack: Any) -> None:
    # 4.8 MB of bytes are 6.4 MB in the event: Lambda refuses it though the body is under 6 MB.
    answer = _get_tools(stack, b"\0" * (48 * MIB // 10), "application/octet-stream")
    assert answer.status_code == 413
    assert answer.json()["error"]["code"] == "payload_too_large"


def test_an_answer_over_lambdas_limit_is_apis_502_in_our_shape() -> None:
    template = Template(load_template())
    too_large = Invocation(
        False, {"errorType": "Function.ResponseSizeTooLarge", "errorMessage": "x"}, "x", 1.0
    )
    gateway = Gateway(
        template.routes(), template.gateway_responses(), {"k": "c"}, lambda *_: too_large, "local"
    )
    status, _, body = gateway.handle("GET", "/v1/tools", [("x-api-key", "k")], b"")
    assert status == 502
    assert json.loads(body)["error"]["code"] == "service_unavailable"


def test_the_templates_gateway_responses_give_the_same_answers_deployed() -> None:
    responses = Template(load_template()).gateway_responses()
    # Over API Gateway's own 10 MB (and, locally, Lambda's 6 MB): our 413 JSON.
    too_large = responses["REQUEST_TOO_LARGE"]
    assert int(too_large["StatusCode"]) == 413
    assert (
        json.loads(too_large["ResponseTemplates"]["application/json"])["error"]["code"] == "payload_too_large"
    )
    # An integration failure (Lambda refused the event, or its answer was over the limit) keeps
    # API Gateway's own status (502) and gets our JSON shape.
    failure = responses["DEFAULT_5XX"]
    assert "StatusCode" not in failure
    template = failure["ResponseTemplates"]["application/json"].replace("$context.error.messageString", '"m"')
    assert json.loads(template)["error"]["code"] == "service_unavailable"
