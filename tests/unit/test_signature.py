"""Magic Hour webhook signature verification (pipeline.webhook.signature)."""

from __future__ import annotations

import pytest

from pipeline.webhook.signature import InvalidSignature, sign, verify

SECRET = "whsec_test_secret"
TIMESTAMP = "1729314984"
NOW = int(TIMESTAMP) + 5
BODY = (
    b'{"type":"video.completed","payload":{"id":"clx7uu86w0a5qp55yxz315r6r","status":"complete",'
    b'"downloads":[{"url":"https://videos.magichour.ai/id/output.mp4","expires_at":"2024-10-19T05:16:19.027Z"}]}}'
)
SIGNATURE = "6413d4e5b1d64eddd4f4833b150852074140952da7dd9d297682b5cad65f512d"


def test_api_md_test_vector_is_what_sign_computes() -> None:
    assert sign(SECRET, TIMESTAMP, BODY) == SIGNATURE


def test_api_md_test_vector_verifies() -> None:
    verify(BODY, TIMESTAMP, SIGNATURE, [SECRET], now=NOW)


def test_tampered_body_is_refused() -> None:
    tampered = BODY.replace(b'"complete"', b'"error"')
    assert tampered != BODY
    with pytest.raises(InvalidSignature, match="does not match"):
        verify(tampered, TIMESTAMP, SIGNATURE, [SECRET], now=NOW)


def test_one_extra_byte_of_whitespace_is_refused() -> None:
    with pytest.raises(InvalidSignature):
        verify(BODY + b" ", TIMESTAMP, SIGNATURE, [SECRET], now=NOW)


def test_timestamp_is_part_of_the_signed_message() -> None:
    other = str(int(TIMESTAMP) + 1)
    with pytest.raises(InvalidSignature, match="does not match"):
        verify(BODY, other, SIGNATURE, [SECRET], now=NOW)


def test_wrong_secret_is_refused() -> None:
    with pytest.raises(InvalidSignature, match="does not match"):
        verify(BODY, TIMESTAMP, SIGNATURE, ["whsec_other_secret"], now=NOW)


@pytest.mark.parametrize(
    "secrets",
    [
        ["whsec_next_secret", SECRET],
        [SECRET, "whsec_next_secret"],
    ],
)
def test_either_secret_during_rotation_is_accepted(secrets: list[str]) -> None:
    verify(BODY, TIMESTAMP, SIGNATURE, secrets, now=NOW)


def test_no_secret_configured_refuses_everything() -> None:
    with pytest.raises(InvalidSignature):
        verify(BODY, TIMESTAMP, SIGNATURE, [], now=NOW)


def test_empty_secret_is_never_used_to_verify() -> None:
    # A signature made with the empty key must not pass because an unset secret is in the list.
    forged = sign("", TIMESTAMP, BODY)
    with pytest.raises(InvalidSignature):
        verify(BODY, TIMESTAMP, forged, ["", "whsec_real"], now=NOW)


@pytest.mark.parametrize(
    ("timestamp", "signature"),
    [
        (None, SIGNATURE),
        ("", SIGNATURE),
        (TIMESTAMP, None),
        (TIMESTAMP, ""),
        (None, None),
    ],
)
def test_missing_headers_are_refused(timestamp: str | None, signature: str | None) -> None:
    with pytest.raises(InvalidSignature, match="missing"):
        verify(BODY, timestamp, signature, [SECRET], now=NOW)


@pytest.mark.parametrize("timestamp", ["abc", "1729314984.0", "1.7e9", "+1729314984", "1729314984s", "0x1f"])
def test_non_integer_timestamp_is_refused(timestamp: str) -> None:
    with pytest.raises(InvalidSignature, match="not an integer"):
        verify(BODY, timestamp, SIGNATURE, [SECRET], now=NOW)


@pytest.mark.parametrize("timestamp", ["--1729314984", "-", "--5"])
def test_malformed_negative_timestamp_is_refused_as_invalid_signature(timestamp: str) -> None:
    # Header values are attacker-controlled: every malformed one must end in InvalidSignature
    # (401), never in another exception type (the webhook handler turns those into a 503).
    with pytest.raises(InvalidSignature):
        verify(BODY, timestamp, SIGNATURE, [SECRET], now=NOW)


def test_non_ascii_signature_is_refused_as_invalid_signature() -> None:
    with pytest.raises(InvalidSignature):
        verify(BODY, TIMESTAMP, "\u00e9" * 64, [SECRET], now=NOW)


def test_stale_timestamp_is_refused_even_when_correctly_signed() -> None:
    with pytest.raises(InvalidSignature, match="window"):
        verify(BODY, TIMESTAMP, SIGNATURE, [SECRET], now=int(TIMESTAMP) + 301)


def test_future_timestamp_is_refused_even_when_correctly_signed() -> None:
    with pytest.raises(InvalidSignature, match="window"):
        verify(BODY, TIMESTAMP, SIGNATURE, [SECRET], now=int(TIMESTAMP) - 301)


@pytest.mark.parametrize("offset", [300, -300, 0])
def test_exactly_300_seconds_either_way_is_accepted(offset: int) -> None:
    verify(BODY, TIMESTAMP, SIGNATURE, [SECRET], now=int(TIMESTAMP) + offset)


def test_tolerance_is_configurable() -> None:
    with pytest.raises(InvalidSignature, match="window"):
        verify(BODY, TIMESTAMP, SIGNATURE, [SECRET], now=int(TIMESTAMP) + 11, tolerance_seconds=10)
    verify(BODY, TIMESTAMP, SIGNATURE, [SECRET], now=int(TIMESTAMP) + 10, tolerance_seconds=10)


def test_uppercase_hex_signature_is_accepted() -> None:
    verify(BODY, TIMESTAMP, SIGNATURE.upper(), [SECRET], now=NOW)


def test_surrounding_whitespace_in_headers_is_tolerated() -> None:
    verify(BODY, f" {TIMESTAMP} ", f" {SIGNATURE}\n", [SECRET], now=NOW)


def test_truncated_signature_is_refused() -> None:
    with pytest.raises(InvalidSignature):
        verify(BODY, TIMESTAMP, SIGNATURE[:-1], [SECRET], now=NOW)


def test_refusal_messages_never_hold_the_secret_or_the_expected_signature() -> None:
    tampered = BODY.replace(b"complete", b"errored!")
    expected_for_tampered = sign(SECRET, TIMESTAMP, tampered)
    attempts = [
        (tampered, TIMESTAMP, SIGNATURE, NOW),  # expected: expected_for_tampered
        (BODY, TIMESTAMP, "0" * 64, NOW),  # expected: SIGNATURE
        (BODY, TIMESTAMP, "0" * 64, int(TIMESTAMP) + 1000),
        (BODY, None, "0" * 64, NOW),
        (BODY, "nope", "0" * 64, NOW),
    ]
    for body, timestamp, signature, now in attempts:
        with pytest.raises(InvalidSignature) as caught:
            verify(body, timestamp, signature, [SECRET, "whsec_next"], now=now)
        text = f"{caught.value} {caught.value!r}"
        for leak in (SECRET, "whsec_next", SIGNATURE, expected_for_tampered):
            assert leak not in text
            assert leak.upper() not in text
