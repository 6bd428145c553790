"""Magic Hour webhook signatures: hex(HMAC-SHA256(secret, f"{timestamp}.{raw body}"))."""

from __future__ import annotations

import hashlib
import hmac
import re
from collections.abc import Sequence

from pipeline.platform.settings import WEBHOOK_TOLERANCE_SECONDS

_INTEGER = re.compile(r"-?[0-9]{1,15}")
_HEX_SHA256 = re.compile(r"[0-9a-f]{64}")


class InvalidSignature(Exception):
    """Why a delivery was refused; the message is safe to log (it never holds a secret)."""


def sign(secret: str, timestamp: str, raw_body: bytes) -> str:
    message = timestamp.encode("ascii") + b"." + raw_body
    return hmac.new(secret.encode("utf-8"), message, hashlib.sha256).hexdigest()


def verify(
    raw_body: bytes,
    timestamp: str | None,
    signature: str | None,
    secrets: Sequence[str],
    now: int,
    tolerance_seconds: int = WEBHOOK_TOLERANCE_SECONDS,
) -> None:
    if not timestamp or not signature:
        raise InvalidSignature("signature headers missing")
    timestamp = timestamp.strip()
    if not _INTEGER.fullmatch(timestamp):
        raise InvalidSignature("timestamp is not an integer")
    if abs(now - int(timestamp)) > tolerance_seconds:
        raise InvalidSignature("timestamp outside the accepted window")
    presented = signature.strip().lower()
    if not _HEX_SHA256.fullmatch(presented):
        raise InvalidSignature("signature is not 64 hex characters")
    # compare_digest on every secret (no early exit) keeps timing independent of which one matched.
    matches = [
        hmac.compare_digest(sign(secret, timestamp, raw_body), presented) for secret in secrets if secret
    ]
    if not any(matches):
        raise InvalidSignature("signature does not match")
