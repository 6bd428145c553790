"""Deployed, a callback URL on a port other than 443, 80 or 8443 is a 422 at submit, for a job, a
batch and each job of a batch (pipeline.submit): the same rule and setting delivery applies
(callback_allow_private_addresses), told while the caller can still fix it. Locally (the setting
true) any port is accepted, as test receivers listen on random ports."""

from __future__ import annotations

import json
from typing import Any

import pytest

from pipeline.jobs import errors
from pipeline.platform.settings import CALLBACK_WEB_PORTS, get_settings
from pipeline.submit import validation
from pipeline.submit.batch_request import parse_inline_batch
from pipeline.submit.validation import parse_submission

IMAGE: dict[str, Any] = {
    "tool": "ai-image-generator",
    "input": {"image_count": 1, "style": {"prompt": "fox"}},
}


def allow_any_callback_port(monkeypatch: pytest.MonkeyPatch) -> None:
    """The local stack's setting (AllowPrivateCallbackAddresses true): ports are not limited."""
    settings = get_settings().model_copy(update={"callback_allow_private_addresses": True})
    monkeypatch.setattr(validation, "get_settings", lambda: settings)


def _job(url: str) -> bytes:
    return json.dumps({**IMAGE, "callback_url": url}).encode()


def _refused(call: Any) -> errors.ValidationFailed:
    with pytest.raises(errors.ValidationFailed) as caught:
        call()
    return caught.value


def test_the_deployed_default_limits_callback_ports() -> None:
    assert get_settings().callback_allow_private_addresses is False
    assert CALLBACK_WEB_PORTS == (443, 80, 8443)


@pytest.mark.parametrize(
    "url", ["https://client.example:22/hook", "https://client.example:8080/h", "http://client.example:6379/"]
)
def test_deployed_a_job_callback_on_another_port_is_422(url: str) -> None:
    error = _refused(lambda: parse_submission("client-a", _job(url), None, False))
    assert error.details == [{"loc": ["body", "callback_url"], "msg": "port must be one of 443, 80, 8443"}]


@pytest.mark.parametrize(
    "url",
    [
        "https://client.example/hook",
        "https://client.example:443/h",
        "http://client.example/h",
        "https://client.example:8443/h",
        "http://client.example:80/h",
    ],
)
def test_deployed_the_web_ports_are_accepted(url: str) -> None:
    assert parse_submission("client-a", _job(url), None, False).request.callback_url == url


def test_deployed_a_batch_callback_and_a_jobs_callback_on_another_port_are_422() -> None:
    batch = {"jobs": [{"custom_id": "a", **IMAGE}], "callback_url": "https://client.example:9000/b"}
    error = _refused(lambda: parse_inline_batch("client-a", json.dumps(batch).encode(), None, True))
    assert [detail["loc"] for detail in error.details] == [["body", "callback_url"]]
    items = {
        "jobs": [
            {"custom_id": "a", **IMAGE},
            {"custom_id": "b", **IMAGE, "callback_url": "https://c.example:22/"},
        ]
    }
    error = _refused(lambda: parse_inline_batch("client-a", json.dumps(items).encode(), None, True))
    assert [detail["loc"][:3] for detail in error.details] == [["body", "jobs", 1]]
    assert error.details[0]["loc"][-1] == "callback_url"


def test_locally_any_port_is_accepted(monkeypatch: pytest.MonkeyPatch) -> None:
    allow_any_callback_port(monkeypatch)
    url = "http://127.0.0.1:54321/hook"
    assert parse_submission("client-a", _job(url), None, False).request.callback_url == url
    batch = {"jobs": [{"custom_id": "a", **IMAGE}], "callback_url": url}
    assert parse_inline_batch("client-a", json.dumps(batch).encode(), None, False).callback_url == url
