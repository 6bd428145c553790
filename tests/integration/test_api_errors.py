"""Bad input on both HTTP routes gets the contract's 4xx body, never a 500, and leaves nothing."""

from __future__ import annotations

import json
import time
import uuid

import pytest
import requests

from pipeline.webhook.signature import sign
from tests.observe import all_jobs

GOOD = {"tool": "ai-voice-generator", "input": {"style": {"prompt": "hi", "voice_name": "Elon Musk"}}}


def _error(answer: requests.Response, status: int, code: str) -> dict:
    assert answer.status_code == status, answer.text
    assert answer.headers["Content-Type"].startswith("application/json")
    body = answer.json()
    assert set(body) == {"error"}
    assert body["error"]["code"] == code
    assert body["error"]["message"]
    assert "Traceback" not in answer.text
    return body["error"]


def _job_count(stack, key: str = "key-alpha") -> int:
    # Every page: a count capped at one page stops changing once the client has more jobs.
    return len(all_jobs(stack, key))


@pytest.mark.parametrize(
    ("raw", "status", "code"),
    [
        (b"not json", 400, "invalid_json"),
        (b"[1, 2]", 400, "invalid_json"),
        (b"\xff\xfe", 400, "invalid_json"),
        (json.dumps({"tool": "no-such-tool", "input": {}}).encode(), 400, "unknown_tool"),
        (json.dumps({"input": {}}).encode(), 422, "validation_failed"),
        (json.dumps({**GOOD, "extra": 1}).encode(), 422, "validation_failed"),
        (json.dumps({**GOOD, "name": "x" * 101}).encode(), 422, "validation_failed"),
        (json.dumps({**GOOD, "metadata": {"a": {"nested": 1}}}).encode(), 422, "validation_failed"),
        (json.dumps({**GOOD, "metadata": {"big": "x" * 3000}}).encode(), 422, "validation_failed"),
        (json.dumps({**GOOD, "callback_url": "ftp://example.com/x"}).encode(), 422, "validation_failed"),
        (
            json.dumps({"tool": "face-swap", "input": {"start_seconds": "zero"}}).encode(),
            422,
            "validation_failed",
        ),
        (b"{" + b" " * (300 * 1024) + b"}", 413, "payload_too_large"),
    ],
)
def test_bad_create_requests_get_a_precise_4xx_and_leave_no_job(stack, raw, status, code) -> None:
    before = _job_count(stack)
    creates = stack.sim_stats()["creates"]
    _error(stack.post_job(raw), status, code)
    assert _job_count(stack) == before
    assert stack.sim_stats()["creates"] == creates


def test_input_validation_points_at_the_field(stack) -> None:
    error = _error(
        stack.post_job(
            {"tool": "ai-image-generator", "input": {"image_count": 99, "style": {"prompt": "x"}}}
        ),
        422,
        "validation_failed",
    )
    assert error["details"][0]["loc"] == ["body", "input", "image_count"]


def test_unknown_tool_message_says_where_to_look(stack) -> None:
    error = _error(stack.post_job({"tool": "make-magic", "input": {}}), 400, "unknown_tool")
    assert "/v1/tools" in error["message"]


@pytest.mark.parametrize("headers", [{}, {"x-api-key": "wrong"}])
def test_missing_or_unknown_api_key_is_401(stack, headers) -> None:
    for answer in (
        requests.post(f"{stack.api}/v1/jobs", json=GOOD, headers=headers, timeout=10),
        requests.get(f"{stack.api}/v1/jobs/job_x", headers=headers, timeout=10),
        requests.get(f"{stack.api}/v1/jobs", headers=headers, timeout=10),
    ):
        _error(answer, 401, "unauthorized")


def test_unknown_job_and_unknown_route_are_404(stack) -> None:
    _error(stack.get_job("job_aaaaaaaaaaaaaaaaaaaaaaaaaa"), 404, "not_found")
    _error(stack.get_job("../../etc/passwd"), 404, "not_found")
    _error(requests.get(f"{stack.api}/v2/whatever", headers=stack.headers(), timeout=10), 404, "not_found")


def test_another_clients_job_is_404(stack) -> None:
    job_id = stack.post_job(GOOD, key="key-alpha").json()["job_id"]
    _error(stack.get_job(job_id, key="key-beta"), 404, "not_found")
    assert stack.get_job(job_id, key="key-alpha").status_code == 200


def test_same_idempotency_key_with_another_body_is_409(stack) -> None:
    key = str(uuid.uuid4())
    first = stack.post_job(GOOD, **{"Idempotency-Key": key})
    assert first.status_code == 202
    other = {**GOOD, "metadata": {"different": True}}
    _error(stack.post_job(other, **{"Idempotency-Key": key}), 409, "idempotency_conflict")
    replay = stack.post_job(GOOD, **{"Idempotency-Key": key})
    assert replay.status_code == 202
    assert replay.json()["job_id"] == first.json()["job_id"]


@pytest.mark.parametrize(
    ("create_status", "status", "code"),
    [
        (400, 422, "upstream_rejected"),
        (422, 422, "upstream_rejected"),
        (402, 402, "insufficient_credits"),
        (403, 403, "plan_restricted"),
    ],
)
def test_magic_hour_refusals_map_to_the_contract(stack, create_status, status, code) -> None:
    stack.scenario(create_status=create_status)
    before = _job_count(stack)
    key = str(uuid.uuid4())
    answer = stack.post_job(GOOD, **{"Idempotency-Key": key})
    _error(answer, status, code)
    # Kept as failed: a retry with the same key shows the same refusal and calls Magic Hour no more.
    assert _job_count(stack) == before + 1
    creates = stack.sim_stats()["creates"]
    _error(stack.post_job(GOOD, **{"Idempotency-Key": key}), status, code)
    assert stack.sim_stats()["creates"] == creates


def test_a_403_passes_magic_hours_plan_message_on_and_keeps_the_job_failed(stack) -> None:
    stack.scenario(create_status=403)
    answer = stack.post_job(GOOD, **{"Idempotency-Key": str(uuid.uuid4())})
    error = _error(answer, 403, "plan_restricted")
    plan = "Your key is valid but the model, resolution, or feature is not available on your plan"
    assert error["message"] == plan
    job_id = error["details"][0]["msg"]
    job = stack.get_job(job_id).json()
    assert job["status"] == "failed"
    assert (job["error"]["code"], job["error"]["message"]) == ("plan_restricted", plan)


def test_a_401_is_still_our_key_and_keeps_no_job(stack) -> None:
    stack.scenario(create_status=401)
    before = _job_count(stack)
    _error(stack.post_job(GOOD, **{"Idempotency-Key": str(uuid.uuid4())}), 502, "upstream_misconfigured")
    assert _job_count(stack) == before


@pytest.mark.parametrize("create_status", [429, 500, 503])
def test_a_create_magic_hour_could_not_take_waits_and_is_retried(stack, create_status) -> None:
    """429/500/503 created nothing: not an HTTP error, the job waits and the pipeline retries."""
    stack.scenario(create_status=create_status)
    answer = stack.post_job(GOOD, **{"Idempotency-Key": str(uuid.uuid4())})
    assert answer.status_code == 202, answer.text
    job = answer.json()
    assert job["status"] == "waiting"
    assert job["project_id"] is None
    stack.scenario(create_status=200, render_seconds=0.2)
    done = stack.wait_for(job["job_id"], {"completed", "failed"}, timeout=30)
    assert done["status"] == "completed", done


def _signed(stack, body: bytes, timestamp: int | None = None, secret: str | None = None) -> dict[str, str]:
    ts = str(int(time.time()) if timestamp is None else timestamp)
    return {
        "magic-hour-event-timestamp": ts,
        "magic-hour-event-signature": sign(secret or stack.webhook_secret, ts, body),
        "Content-Type": "application/json",
    }


def _webhook(stack, body: bytes, headers: dict[str, str]) -> requests.Response:
    return requests.post(f"{stack.api}/webhooks/magic-hour", data=body, headers=headers, timeout=10)


EVENT = json.dumps(
    {
        "type": "video.completed",
        "payload": {"id": "cunknownproject000000000000", "status": "complete", "downloads": []},
    },
    separators=(",", ":"),
).encode()


@pytest.mark.parametrize(
    "mangle",
    [
        lambda s, b: {},
        lambda s, b: {k: v for k, v in _signed(s, b).items() if k != "magic-hour-event-signature"},
        lambda s, b: {k: v for k, v in _signed(s, b).items() if k != "magic-hour-event-timestamp"},
        lambda s, b: _signed(s, b, secret="whsec_wrong"),
        lambda s, b: _signed(s, b, timestamp=int(time.time()) - 301),
        lambda s, b: _signed(s, b, timestamp=int(time.time()) + 301),
        lambda s, b: {**_signed(s, b), "magic-hour-event-timestamp": "soon"},
    ],
    ids=["no-headers", "no-signature", "no-timestamp", "wrong-secret", "stale", "future", "non-integer"],
)
def test_webhooks_without_a_valid_signature_are_401(stack, mangle) -> None:
    _error(_webhook(stack, EVENT, mangle(stack, EVENT)), 401, "invalid_signature")


def test_tampered_webhook_body_is_401(stack) -> None:
    headers = _signed(stack, EVENT)
    _error(_webhook(stack, EVENT.replace(b"complete", b"errored!"), headers), 401, "invalid_signature")


def test_signed_but_malformed_webhooks_are_400(stack) -> None:
    for body, code in (
        (b"{not json", "invalid_json"),
        (b'{"type":"video.exploded","payload":{"id":"x"}}', "unknown_event"),
    ):
        _error(_webhook(stack, body, _signed(stack, body)), 400, code)


def test_oversized_webhook_is_413(stack) -> None:
    body = b'{"type":"video.started","payload":{"id":"x","pad":"' + b"x" * (1024 * 1024) + b'"}}'
    _error(_webhook(stack, body, _signed(stack, body)), 413, "payload_too_large")


def test_signed_event_for_an_unknown_project_is_acknowledged(stack) -> None:
    answer = _webhook(stack, EVENT, _signed(stack, EVENT))
    assert answer.status_code == 200
    assert answer.json()["outcome"] == "unknown_project"
