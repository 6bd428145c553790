"""One redactor for logs and client-visible text (pipeline.platform.redaction), and the log lines that
could carry signed URLs."""

from __future__ import annotations

import io
import json
import logging

import pytest

from pipeline.jobs import errors
from pipeline.platform.observability import logger
from pipeline.platform.redaction import for_client, redact
from pipeline.webhook import webhook_delivery

SIGNED = "https://videos.magichour.ai/id/output.mp4?auth-value=s1gn4ture&expires=1"
PRESIGNED = (
    "https://bucket.s3.amazonaws.com/jobs/j/p/output-0.mp4?X-Amz-Algorithm=AWS4-HMAC-SHA256"
    "&X-Amz-Credential=AKIAIOSFODNN7EXAMPLE%2F20261201&X-Amz-Signature=abcdef0123"
)


@pytest.mark.parametrize(
    ("text", "kept", "gone"),
    [
        (f"could not fetch {SIGNED} now", "https://videos.magichour.ai/id/output.mp4?", "s1gn4ture"),
        (PRESIGNED, "output-0.mp4", "abcdef0123"),
        (PRESIGNED, "output-0.mp4", "AKIAIOSFODNN7EXAMPLE"),
        # requests' own message names only the path and query of the URL
        ("Max retries exceeded with url: /id/o.mp4?sig=deadbeef (Caused by", "/id/o.mp4", "deadbeef"),
        (json.dumps({"url": SIGNED}), '"url": "https://videos.magichour.ai', "s1gn4ture"),
        ("https://user:hunter2@hooks.example/x", "hooks.example/x", "hunter2"),
        ("secret is whsec_c2VjcmV0LXZhbHVl+/== ok", "ok", "c2VjcmV0LXZhbHVl"),
        ("Authorization: Bearer mh-live-key-123", "Authorization", "mh-live-key-123"),
        ('{"x-api-key": "client-key-9"}', "x-api-key", "client-key-9"),
        ("key AKIAIOSFODNN7EXAMPLE leaked", "leaked", "AKIAIOSFODNN7EXAMPLE"),
    ],
)
def test_redact_removes_credentials_and_keeps_the_rest(text: str, kept: str, gone: str) -> None:
    redacted = redact(text)
    assert gone not in redacted
    assert kept in redacted
    assert "<redacted>" in redacted


def test_plain_text_is_untouched() -> None:
    text = "download URL answered 503 after 3 attempts; is it up? retrying"
    assert redact(text) == text
    assert for_client(text) == text


def test_client_text_loses_arns_and_account_ids() -> None:
    botocore = (
        "An error occurred (AccessDeniedException) when calling the GetItem operation: User: "
        "arn:aws:sts::123456789012:assumed-role/pipeline-CallbackRole/fn is not authorized"
    )
    plain = for_client(botocore)
    assert "123456789012" not in plain
    assert "CallbackRole" not in plain
    assert "AccessDeniedException" in plain
    assert "arn:aws" in redact(botocore)  # our own logs keep them


def test_every_log_line_is_redacted() -> None:
    stream = io.StringIO()
    handler = logger.registered_handler
    assert isinstance(handler, logging.StreamHandler)
    previous = handler.setStream(stream)
    try:
        logger.warning("fetch failed", extra={"url": PRESIGNED, "reason": f"could not fetch {SIGNED}"})
        try:
            raise RuntimeError(f"boom at {SIGNED}")
        except RuntimeError:
            logger.exception("with a traceback")
    finally:
        handler.setStream(previous)
    out = stream.getvalue()
    assert "fetch failed" in out
    assert "with a traceback" in out
    for secret in ("s1gn4ture", "abcdef0123", "AKIAIOSFODNN7EXAMPLE"):
        assert secret not in out


def test_webhook_schema_error_log_keeps_loc_msg_and_type_only(monkeypatch: pytest.MonkeyPatch) -> None:
    logged: list[dict[str, object]] = []
    monkeypatch.setattr(logger, "error", lambda message, extra=None, **_: logged.append(extra or {}))
    body = json.dumps(
        {"type": "video.completed", "payload": {"status": "complete", "downloads": [{"url": SIGNED}]}}
    ).encode()
    with pytest.raises(errors.RequestRefused) as refused:
        webhook_delivery.parse(body)
    assert isinstance(refused.value, errors.InvalidEvent)
    (extra,) = logged
    logged_errors = extra["errors"]
    assert isinstance(logged_errors, list)
    assert logged_errors
    for error in logged_errors:
        assert set(error) == {"loc", "msg", "type"}
    assert "s1gn4ture" not in json.dumps(extra)
