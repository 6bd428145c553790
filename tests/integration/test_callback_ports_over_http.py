"""A callback URL's port at submit, over HTTP: with the deployed setting (on a stack of its own,
AllowPrivateCallbackAddresses false) a port other than 443, 80 or 8443 is a 422 naming
`callback_url`, for a job, a batch and a batch's job, and nothing is written; on the shared
stack (the local setting) a receiver's random port is accepted."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
import requests
from conftest import StackHandle, start_stack

from tests.observe import all_jobs

VOICE = {"tool": "ai-voice-generator", "input": {"style": {"prompt": "hi", "voice_name": "Elon Musk"}}}


@pytest.fixture(scope="module")
def deployed_ports(tmp_path_factory: pytest.TempPathFactory) -> Iterator[StackHandle]:
    stack, handle = start_stack(
        tmp_path_factory, schedule_seconds=3600, parameters={"AllowPrivateCallbackAddresses": "false"}
    )
    try:
        yield handle
    finally:
        stack.stop()


def _batch(stack: StackHandle, body: dict[str, Any]) -> requests.Response:
    return requests.post(f"{stack.api}/v1/batches", json=body, headers=stack.headers(), timeout=30)


def test_deployed_a_callback_port_other_than_the_web_ports_is_422(deployed_ports: StackHandle) -> None:
    stack = deployed_ports
    for url in ("https://client.example:22/hook", "http://client.example:8080/hook"):
        answer = stack.post_job({**VOICE, "callback_url": url})
        assert answer.status_code == 422, answer.text
        error = answer.json()["error"]
        assert error["code"] == "validation_failed"
        assert error["details"] == [
            {"loc": ["body", "callback_url"], "msg": "port must be one of 443, 80, 8443"}
        ]
    answer = _batch(
        stack, {"jobs": [{"custom_id": "a", **VOICE}], "callback_url": "https://client.example:6379/"}
    )
    assert answer.status_code == 422, answer.text
    assert [d["loc"] for d in answer.json()["error"]["details"]] == [["body", "callback_url"]]
    item = {"custom_id": "a", **VOICE, "callback_url": "https://client.example:9000/"}
    answer = _batch(stack, {"jobs": [item]})
    assert answer.status_code == 422, answer.text
    assert answer.json()["error"]["details"][0]["loc"][:3] == ["body", "jobs", 0]
    assert all_jobs(stack) == []  # nothing written
    assert stack.post_job({**VOICE, "callback_url": "https://client.example:8443/hook"}).status_code == 202


def test_locally_a_receiver_on_any_port_is_accepted(stack: StackHandle) -> None:
    answer = stack.post_job({**VOICE, "callback_url": "http://127.0.0.1:54321/hook"})
    assert answer.status_code == 202, answer.text
