"""The webhook's routes through the local stack over HTTP: the secret path
(`POST /webhooks/magic-hour/{token}`) takes deliveries with the current and, during a rotation,
the previous token; any other token, and the plain route once the deployer turned it off
(WebhookPlainRoute=false), is answered exactly as a route that does not exist. The token never
reaches a log line. One stack of its own (the plain route off); the shared stack's webhook tests
cover the plain route as deployed by default."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import requests
from conftest import StackHandle, start_stack

from pipeline.webhook.signature import sign

CURRENT = "tokNewRotatedIn0123456789abcdefABCDEF"
PREVIOUS = "tokOldStillAccepted0123456789abcdefAB"


@pytest.fixture(scope="module")
def routes_stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[StackHandle]:
    stack, handle = start_stack(
        tmp_path_factory, schedule_seconds=3600, parameters={"WebhookPlainRoute": "false"}
    )
    try:
        # A rotation in progress, written before the webhook function first reads the secret.
        from local.resources import client

        secrets = client("secretsmanager", handle.aws, "us-east-1")
        secrets.put_secret_value(
            SecretId=stack.resolver.refs["WebhookPathTokenSecret"],
            SecretString=json.dumps({"current": CURRENT, "previous": PREVIOUS}),
        )
        yield handle
    finally:
        stack.stop()


def signed_post(handle: StackHandle, path: str, payload: dict[str, Any]) -> requests.Response:
    body = json.dumps({"type": "video.completed", "payload": payload}).encode()
    timestamp = str(int(time.time()))
    return requests.post(
        f"{handle.api}{path}",
        data=body,
        timeout=30,
        headers={
            "Content-Type": "application/json",
            "magic-hour-event-timestamp": timestamp,
            "magic-hour-event-signature": sign(handle.webhook_secret, timestamp, body),
        },
    )


# A project nobody created through the pipeline: applied as `unknown_project`, nothing written.
UNKNOWN = {"id": "cm-no-such-project", "name": "made elsewhere", "status": "complete", "downloads": []}


@pytest.mark.parametrize("token", [CURRENT, PREVIOUS])
def test_the_secret_path_takes_deliveries_with_the_current_and_the_previous_token(
    routes_stack: StackHandle, token: str
) -> None:
    answer = signed_post(routes_stack, f"/webhooks/magic-hour/{token}", UNKNOWN)
    assert answer.status_code == 200, answer.text
    assert answer.json() == {"received": True, "outcome": "unknown_project"}


@pytest.mark.parametrize(
    "path",
    [
        f"/webhooks/magic-hour/{CURRENT[:-1]}",  # one character short
        f"/webhooks/magic-hour/{CURRENT}x",
        "/webhooks/magic-hour/local-webhook-path-token",  # the seeded token, rotated out
        "/webhooks/magic-hour",  # the plain route, turned off
    ],
)
def test_a_wrong_token_or_the_plain_route_off_is_answered_as_no_such_route(
    routes_stack: StackHandle, path: str
) -> None:
    unrouted = signed_post(routes_stack, "/webhooks/no-such-route", UNKNOWN)
    answer = signed_post(routes_stack, path, UNKNOWN)
    assert (answer.status_code, answer.json()) == (unrouted.status_code, unrouted.json())
    assert answer.status_code == 404
    assert answer.json() == {"error": {"code": "not_found", "message": "no such route"}}


def test_a_bad_signature_on_the_secret_path_is_still_refused(routes_stack: StackHandle) -> None:
    answer = requests.post(
        f"{routes_stack.api}/webhooks/magic-hour/{CURRENT}",
        json={"type": "video.completed", "payload": UNKNOWN},
        headers={"magic-hour-event-timestamp": str(int(time.time())), "magic-hour-event-signature": "v1,bad"},
        timeout=30,
    )
    assert answer.status_code == 401
    assert answer.json()["error"]["code"] == "invalid_signature"


def test_no_token_reaches_the_function_log(routes_stack: StackHandle) -> None:
    assert signed_post(routes_stack, f"/webhooks/magic-hour/{CURRENT}", UNKNOWN).status_code == 200
    assert signed_post(routes_stack, "/webhooks/magic-hour/guessed-token-xyz", UNKNOWN).status_code == 404
    log = Path(routes_stack.stack.function_log).read_text()
    assert '"wrong_path"' in log  # the refusal is counted (metric line) ...
    for token in (CURRENT, PREVIOUS, "guessed-token-xyz"):
        assert token not in log  # ... and no token, right or wrong, is written anywhere
