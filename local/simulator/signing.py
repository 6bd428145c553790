"""Webhook signatures (Magic Hour's documented algorithm) and signed simulator URLs."""

from __future__ import annotations

import hashlib
import hmac
import secrets


def webhook_signature(secret: str, timestamp: str | int, body: bytes) -> str:
    """hex(HMAC-SHA256(secret as UTF-8, f"{timestamp}.{raw body}")), exactly as documented."""
    message = str(timestamp).encode() + b"." + body
    return hmac.new(secret.encode("utf-8"), message, hashlib.sha256).hexdigest()


def wrong_webhook_signature(secret: str, timestamp: str | int, body: bytes) -> str:
    """Well-formed (64 lower-case hex) but made with another key, so only verification catches it."""
    return webhook_signature(secret + ":not-the-secret", timestamp, body)


class UrlSigner:
    """Signs download and upload URLs so tampered or expired ones can be refused like a CDN would."""

    def __init__(self, key: bytes | None = None) -> None:
        self._key = key if key is not None else secrets.token_bytes(32)

    def sign(self, path: str, expires_ms: int, nonce: str) -> str:
        message = f"{path}\n{expires_ms}\n{nonce}".encode()
        return hmac.new(self._key, message, hashlib.sha256).hexdigest()

    def verify(self, path: str, expires_ms: int, nonce: str, signature: str) -> bool:
        return hmac.compare_digest(self.sign(path, expires_ms, nonce), signature)
