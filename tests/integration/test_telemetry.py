"""Nothing secret in telemetry: a whole round trip (job, outputs, presigned URLs, an upload, callback,
callback secrets and their rotation, a signed webhook that breaks its schema) through the local
stack with distinctive secrets, then every function log line is searched for them."""

from __future__ import annotations

import base64
import re
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import requests
from conftest import CALLBACK_SECRET, MAGIC_HOUR_KEY, WEBHOOK_SECRET, StackHandle

from tests.polling import poll

IMAGES = {"tool": "ai-image-generator", "input": {"image_count": 2, "style": {"prompt": "two owls"}}}
# A Magic Hour download URL as it would arrive in a webhook, with a distinctive signature.
SIGNED_URL = "https://videos.magichour.ai/id/output.mp4?auth-value=telemetry-sig-7f3a9c"


def _log_text(stack: StackHandle) -> str:
    path = Path(stack.stack.function_log)
    return path.read_text(errors="replace")


def _wait_for_log(stack: StackHandle, needle: str, timeout: float = 15) -> str:
    def with_needle() -> str:
        text = _log_text(stack)
        return text if needle in text else ""  # the log is long: a failure names only the needle

    return poll(with_needle, timeout, f"{needle!r} in the function log")


def _secret_forms(secret: str) -> list[str]:
    """A Standard Webhooks secret as text, and the base64 key inside it."""
    forms = [secret]
    if secret.startswith("whsec_"):
        forms.append(secret.removeprefix("whsec_"))
    return forms


def test_no_secret_or_signed_url_in_any_function_log(stack: StackHandle) -> None:
    secrets: list[str] = [MAGIC_HOUR_KEY, WEBHOOK_SECRET, *_secret_forms(CALLBACK_SECRET)]
    headers = stack.headers()
    # Client callback secrets, before and after a rotation.
    for path, method in (("/v1/callback-secret", "GET"), ("/v1/callback-secret/rotate", "POST")):
        answer = requests.request(method, f"{stack.api}{path}", headers=headers, timeout=10)
        assert answer.status_code == 200
        secrets += _secret_forms(answer.json()["secret"])
    # A job whose outputs are stored, read back with presigned URLs, and called back.
    job_id = stack.post_job({**IMAGES, "callback_url": "http://127.0.0.1:9/unreachable"}).json()["job_id"]
    job: dict[str, Any] = stack.wait_for(job_id, {"completed"})
    listed = requests.get(f"{stack.api}/v1/jobs", headers=headers, timeout=10).json()
    signed_values: list[str] = ["telemetry-sig-7f3a9c"]
    for output in job["outputs"] + [o for j in listed["jobs"] for o in j["outputs"]]:
        query = parse_qs(urlsplit(output["download_url"]).query)
        signed_values += query.get("X-Amz-Signature", []) + query.get("X-Amz-Credential", [])
    assert len(signed_values) > 1
    # An upload URL (presigned PUT).
    upload = requests.post(f"{stack.api}/v1/uploads", json={"extension": "mp4"}, headers=headers, timeout=10)
    assert upload.status_code == 201, upload.text
    signed_values += parse_qs(urlsplit(upload.json()["upload_url"]).query)["X-Amz-Signature"]
    # The simulator's own signed download URLs for this project (what the webhook carried).
    project = requests.get(
        f"{stack.magic_hour}/v1/image-projects/{job['project_id']}",
        headers={"Authorization": f"Bearer {MAGIC_HOUR_KEY}"},
        timeout=10,
    ).json()
    for download in project["downloads"]:
        signed_values += parse_qs(urlsplit(download["url"]).query).get("sig", [])
    # A signed webhook that breaks its schema while carrying a signed download URL.
    answer = requests.post(
        f"{stack.magic_hour}/_sim/webhooks",
        json={
            "type": "video.completed",
            "payload": {"status": "complete", "downloads": [{"url": SIGNED_URL, "expires_at": None}]},
        },
        timeout=10,
    )
    assert answer.json()["status_code"] == 400
    # The callback to a closed port fails at least once (its error is logged).
    poll(
        lambda: (stack.get_job(job_id).json()["callback"] or {}).get("attempts", 0),
        15,
        "the callback's first attempt",
    )

    text = _wait_for_log(stack, "signed webhook does not match its event schema")
    assert job_id in text  # the log does hold this test's work
    for value in secrets + signed_values:
        assert value not in text, f"a secret or signature is in the function log: {value[:6]}..."
        assert base64.b64encode(value.encode()).decode() not in text
    for pattern in (
        r"X-Amz-Signature=\w",
        r"X-Amz-Credential=\w",
        r"[?&]sig=\w",
        r"auth-value=\w",
        r"Bearer \w",
    ):
        assert re.search(pattern, text) is None, pattern
