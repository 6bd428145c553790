"""What the local gateway answers when a function fails or takes too long, as API Gateway (REST,
Lambda proxy) does: a function error, a timeout or a response over 6 MB within 29 s is a `502`;
an invocation that reaches the 29 s integration timeout is a `504`; both in our JSON shape."""

from __future__ import annotations

import json
from typing import Any

import pytest

from local.gateway import INTEGRATION_TIMEOUT_SECONDS, Gateway
from local.runtime import Invocation
from local.template import Template, load_template

TIMED_OUT = {"errorType": "Sandbox.Timedout", "errorMessage": "Task timed out after 29.00 seconds"}


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def _gateway(clock: Clock, takes: float, answer: Invocation) -> Gateway:
    template = Template(load_template())

    def invoke(function: str, event: dict[str, Any]) -> Invocation:
        clock.now += takes  # the invocation's run time, as the gateway's clock sees it
        return answer

    return Gateway(
        template.routes(), template.gateway_responses(), {"key-alpha": "c"}, invoke, "local", clock=clock
    )


def _get(gateway: Gateway) -> tuple[int, dict[str, Any]]:
    status, _, body = gateway.handle("GET", "/v1/tools", [("x-api-key", "key-alpha")], b"")
    return status, json.loads(body)


@pytest.mark.parametrize(
    ("takes", "answer"),
    [
        (10.0, Invocation(False, TIMED_OUT, TIMED_OUT["errorMessage"], 10_000)),
        (0.1, Invocation(False, {"errorType": "Runtime.ExitError"}, "signal: killed", 100)),
        # A response over Lambda's 6 MB is the runtime's Function.ResponseSizeTooLarge: a 502 too.
        (1.0, Invocation(False, {"errorType": "Function.ResponseSizeTooLarge"}, "too large", 1000)),
        (INTEGRATION_TIMEOUT_SECONDS - 0.5, Invocation(True, {"body": "no statusCode"}, None, 28_500)),
    ],
)
def test_a_function_that_fails_within_29_s_is_a_502(takes: float, answer: Invocation) -> None:
    status, body = _get(_gateway(Clock(), takes, answer))
    assert status == 502
    assert body == {"error": {"code": "service_unavailable", "message": "Internal server error"}}


@pytest.mark.parametrize("ok", [False, True])
def test_an_invocation_that_reaches_29_s_is_a_504_whatever_it_answers(ok: bool) -> None:
    answer = (
        Invocation(True, {"statusCode": 200, "body": "{}"}, None, 29_000)
        if ok
        else Invocation(False, TIMED_OUT, TIMED_OUT["errorMessage"], 29_000)
    )
    status, body = _get(_gateway(Clock(), INTEGRATION_TIMEOUT_SECONDS, answer))
    assert status == 504
    assert body == {"error": {"code": "service_unavailable", "message": "Endpoint request timed out"}}


def test_a_quick_answer_passes_through() -> None:
    status, body = _get(
        _gateway(Clock(), 0.2, Invocation(True, {"statusCode": 200, "body": '{"a": 1}'}, None, 200))
    )
    assert (status, body) == (200, {"a": 1})
