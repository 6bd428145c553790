"""Issue #16 over HTTP: each request here once answered 503 (or HTML, or a wrong code) on main.
Each must answer a precise 4xx of the contract's error table and change nothing."""

from __future__ import annotations

import base64
import json
import socket
import time
from typing import Any

import pytest
import requests

from pipeline.webhook.signature import sign
from tests.polling import poll

VOICE = {"tool": "ai-voice-generator", "input": {"style": {"prompt": "hi", "voice_name": "Elon Musk"}}}
AUDIO_TO_VIDEO = {
    "tool": "audio-to-video",
    "input": {
        "end_seconds": 5,
        "assets": {"audio_file_path": "https://example.com/a.mp3"},
        "style": {"prompt": "waves"},
    },
}


def _error(answer: requests.Response, status: int, code: str) -> dict[str, Any]:
    assert answer.status_code == status, answer.text
    assert answer.headers["Content-Type"].startswith("application/json")
    body = answer.json()
    assert set(body) == {"error"}
    assert body["error"]["code"] == code
    assert body["error"]["message"]
    return dict(body["error"])


def job_rows(stack, aws) -> int:
    """Every job row of every client (a refused request must write none)."""
    table = stack.stack.resolver.resolve({"Ref": "JobsTable"})
    return int(aws("dynamodb").scan(TableName=table, Select="COUNT")["Count"])


def _unchanged(stack, aws, send) -> requests.Response:
    rows, creates = job_rows(stack, aws), stack.sim_stats()["creates"]
    answer = send()
    assert job_rows(stack, aws) == rows, answer.text
    assert stack.sim_stats()["creates"] == creates, answer.text
    return answer


@pytest.mark.parametrize(
    "url",
    ["http://[::1", "https://[x]/", "https://client.example:99999/hook", "http://127.0.0.1:0/hook"],
)
def test_callback_url_without_a_valid_host_or_port_is_422(stack, aws, url) -> None:
    answer = _unchanged(stack, aws, lambda: stack.post_job({**VOICE, "callback_url": url}))
    error = _error(answer, 422, "validation_failed")
    assert error["details"][0]["loc"] == ["body", "callback_url"]


def test_forged_cursor_is_400_invalid_cursor(stack) -> None:
    for document in (
        {"c": "client-alpha", "s": "", "k": {}},
        {"c": "client-alpha", "s": "", "k": {"job_id": "job_x"}},
        {
            "c": "client-alpha",
            "s": "",
            "k": {"job_id": "x", "client_id": "client-alpha", "client_created": "x"},
        },
    ):
        cursor = base64.urlsafe_b64encode(json.dumps(document).encode()).decode().rstrip("=")
        answer = requests.get(f"{stack.api}/v1/jobs?cursor={cursor}", headers=stack.headers(), timeout=10)
        _error(answer, 400, "invalid_cursor")


@pytest.mark.parametrize(
    ("raw", "loc"),
    [
        (b'{"tool":"ai-voice-generator","input":{"style":{"prompt":"hi","voice_name":"Elon Musk"}},'
         b'"metadata":{"k":"\\udd9c"}}', ["body", "metadata", "k"]),
        (b'{"tool":"ai-voice-generator","input":{"style":{"prompt":"hi","voice_name":"Elon Musk"}},'
         b'"name":"\\udbff"}', ["body", "name"]),
        (b'{"tool":"ai-voice-generator","input":{"style":{"prompt":"\\ud800","voice_name":"Elon Musk"}}}',
         ["body", "input", "style", "prompt"]),
        (b'{"tool":"ai-voice-generator","input":{"style":{"prompt":"hi","voice_name":"Elon Musk"}},'
         b'"metadata":{"\\udd9c":"v"}}', ["body", "metadata"]),
    ],
)  # fmt: skip
def test_lone_surrogates_are_422_and_leave_the_listing_working(stack, aws, raw, loc) -> None:
    answer = _unchanged(stack, aws, lambda: stack.post_job(raw))
    assert _error(answer, 422, "validation_failed")["details"][0]["loc"] == loc
    assert requests.get(f"{stack.api}/v1/jobs", headers=stack.headers(), timeout=10).status_code == 200


def test_end_seconds_1e60_is_422_and_creates_nothing(stack, aws) -> None:
    body = json.dumps(AUDIO_TO_VIDEO).replace('"end_seconds": 5', '"end_seconds": 1e60').encode()
    answer = _unchanged(stack, aws, lambda: stack.post_job(body))
    assert _error(answer, 422, "validation_failed")["details"][0]["loc"] == ["body", "input", "end_seconds"]


def test_webhook_with_absurd_credits_still_moves_its_job(stack) -> None:
    stack.scenario(webhook_send=False, render_seconds=0.1)
    job = stack.post_job(VOICE).json()
    assert job["status"] == "queued", job
    poll(
        lambda: stack.sim_project(job["project_id"])["status"],
        10,
        "the project's end at the simulator",
        until=lambda status: status == "complete",
        interval=0.05,
    )
    project = requests.get(
        f"{stack.magic_hour}/v1/audio-projects/{job['project_id']}",
        headers={"Authorization": f"Bearer {stack.stack.config.magic_hour_api_key}"},
        timeout=5,
    ).json()
    for credits in (10**62, -450):
        answer = requests.post(
            f"{stack.magic_hour}/_sim/webhooks",
            json={"type": "audio.completed", "payload": {**project, "credits_charged": credits}},
            timeout=30,
        )
        assert answer.json()["status_code"] == 200
    done = stack.wait_for(job["job_id"], {"completed"})
    assert done["credits_charged"] is None or 0 <= done["credits_charged"] < 10**12


def _signed_webhook(stack, body: bytes) -> requests.Response:
    ts = str(int(time.time()))
    headers = {
        "magic-hour-event-timestamp": ts,
        "magic-hour-event-signature": sign(stack.webhook_secret, ts, body),
        "Content-Type": "application/json",
    }
    return requests.post(f"{stack.api}/webhooks/magic-hour", data=body, headers=headers, timeout=10)


@pytest.mark.parametrize(
    "body",
    [
        b'{"type":NaN,"payload":{"id":"x"}}',
        b'{"type":"video.started","payload":{"id":"x","credits_charged":Infinity}}',
        b'{"type":"video.started","payload":{"id":"x","credits_charged":1e999}}',
    ],
)
def test_webhook_with_nan_or_infinity_is_invalid_json(stack, body) -> None:
    _error(_signed_webhook(stack, body), 400, "invalid_json")


def _raw_http(stack, request: bytes) -> tuple[int, dict[str, str], bytes]:
    host, port = stack.api.removeprefix("http://").split(":")
    with socket.create_connection((host, int(port)), timeout=10) as conn:
        conn.sendall(request)
        data = b""
        while True:
            chunk = conn.recv(65536)
            if not chunk:
                break
            data += chunk
            head, _, rest = data.partition(b"\r\n\r\n")
            length = next(
                (
                    int(line.split(b":")[1])
                    for line in head.split(b"\r\n")
                    if line.lower().startswith(b"content-length:")
                ),
                None,
            )
            if length is not None and len(rest) >= length:
                break
    head, _, rest = data.partition(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    headers = {k.strip().lower(): v.strip() for k, v in (line.split(":", 1) for line in lines[1:])}
    return int(lines[0].split()[1]), headers, rest


@pytest.mark.parametrize(
    "method", ["TRACE", "CONNECT", "PROPFIND", "BREW", "PUT", "DELETE", "PATCH", "OPTIONS"]
)
@pytest.mark.parametrize("path", ["/v1/jobs", "/v1/tools", "/webhooks/magic-hour", "/nowhere"])
def test_any_method_the_gateway_does_not_route_is_a_json_404(stack, method, path) -> None:
    answer = requests.request(method, f"{stack.api}{path}", headers=stack.headers(), timeout=10)
    _error(answer, 404, "not_found")


@pytest.mark.parametrize(
    "request_bytes",
    [
        b"GARBAGE\r\n\r\n",
        b"GET /v1/jobs HTTP/9.9\r\nHost: x\r\n\r\n",
        b"POST /v1/jobs HTTP/1.1\r\nHost: x\r\nContent-Length: lots\r\n\r\n",
        b"POST /v1/jobs HTTP/1.1\r\nHost: x\r\nContent-Length: -5\r\n\r\n",
        b"POST /v1/jobs HTTP/1.1\r\nHost: x\r\nContent-Length: 99999999999\r\n\r\n",
        b"GET /" + b"a" * 70000 + b" HTTP/1.1\r\nHost: x\r\n\r\n",
    ],
    ids=["no-request-line", "bad-version", "length-word", "length-negative", "length-huge", "uri-too-long"],
)
def test_malformed_http_gets_a_json_error_body(stack, request_bytes) -> None:
    status, headers, body = _raw_http(stack, request_bytes)
    assert 400 <= status < 500
    assert headers["content-type"].startswith("application/json")
    assert set(json.loads(body)) == {"error"}


def test_callback_shows_pending_from_the_start(stack) -> None:
    stack.scenario(webhook_send=False, render_seconds=60)
    answer = stack.post_job({**VOICE, "callback_url": "http://127.0.0.1:9/hook"})
    assert answer.status_code == 202, answer.text
    expected = {"state": "pending", "attempts": 0, "last_error": None}
    assert answer.json()["callback"] == expected
    assert stack.get_job(answer.json()["job_id"]).json()["callback"] == expected
