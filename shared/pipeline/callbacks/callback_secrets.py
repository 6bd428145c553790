"""Each client's own callback signing secret (docs/api.md, "Callbacks").

Secrets are derived, never stored: HMAC-SHA256 of the master secret (Secrets Manager) over the
client id and a per-client version kept on the client's profile. A client's secret therefore says
nothing about another client's, and the master never leaves Secrets Manager and this code. A
rotation bumps the version; for `ROTATION_OVERLAP_SECONDS` afterwards callbacks carry signatures
made with the previous and the new secret, so receivers switch without losing a delivery.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from standardwebhooks.webhooks import Webhook

from pipeline.platform import secret_store
from pipeline.store import clients

# The Standard Webhooks prefix, not a secret.
SECRET_PREFIX = "whsec_"  # noqa: S105  # nosec B105
ROTATION_OVERLAP_SECONDS = 24 * 3600
# Domain separation: the same master could one day derive other keys.
_PURPOSE = b"magic-hour-pipeline/callback-secret/v1"


@dataclass(frozen=True)
class SecretVersions:
    """What the profile item says about a client's callback secret."""

    current: int
    previous: int | None = None
    rotated_at: float | None = None

    @classmethod
    def from_profile(cls, profile: dict[str, Any]) -> SecretVersions:
        current = int(profile.get(clients.CALLBACK_SECRET_VERSION, 0))
        previous = profile.get(clients.CALLBACK_SECRET_PREVIOUS_VERSION)
        rotated_at = profile.get(clients.CALLBACK_SECRET_ROTATED_AT)
        return cls(
            current=current,
            previous=None if previous is None else int(previous),
            rotated_at=None if rotated_at is None else float(rotated_at),
        )

    def valid_versions(self, now: float) -> list[int]:
        """The versions whose secrets sign a callback sent at `now`: the current one first."""
        versions = [self.current]
        if (
            self.previous is not None
            and self.previous != self.current
            and self.rotated_at is not None
            and now < self.rotated_at + ROTATION_OVERLAP_SECONDS
        ):
            versions.append(self.previous)
        return versions


def derive_secret(master: str, client_id: str, version: int) -> str:
    """The client's Standard Webhooks secret (`whsec_` + base64 of 32 bytes) for one version."""
    message = b"\x00".join((_PURPOSE, client_id.encode(), str(version).encode()))
    key = hmac.new(master.encode(), message, hashlib.sha256).digest()
    return SECRET_PREFIX + base64.b64encode(key).decode()


def signing_secrets(master: str, client_id: str, versions: SecretVersions, now: float) -> list[str]:
    return [derive_secret(master, client_id, version) for version in versions.valid_versions(now)]


def sign(secrets: list[str], message_id: str, timestamp: datetime, payload: str) -> str:
    """The `webhook-signature` header: one `v1,<sig>` per secret, space-separated, which any
    Standard Webhooks verifier accepts when one of them matches."""
    return " ".join(Webhook(secret).sign(message_id, timestamp, payload) for secret in secrets)


# -- with the stores ----------------------------------------------------------------------------


def _master() -> str:
    return secret_store.callback_master_secret()


def current_secret(client_id: str) -> str:
    versions = SecretVersions.from_profile(clients.get_profile(client_id))
    return derive_secret(_master(), client_id, versions.current)


def rotate(client_id: str, clock: Callable[[], float] = time.time) -> str:
    """A new secret for the client. The version bump is one atomic update, so two concurrent
    rotations get two different versions and each answers the secret it made."""
    master = _master()  # read first: an unreadable master changes nothing
    versions = SecretVersions.from_profile(clients.rotate_callback_secret(client_id, clock()))
    return derive_secret(master, client_id, versions.current)


def secrets_for_delivery(client_id: str, clock: Callable[[], float] = time.time) -> list[str]:
    versions = SecretVersions.from_profile(clients.get_profile(client_id))
    return signing_secrets(_master(), client_id, versions, clock())
