"""Each client's callbacks are signed with that client's own secret (pipeline.callbacks.callback_secrets):
verified with the `standardwebhooks` package, as a client's receiver would."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

import pytest
from standardwebhooks.webhooks import Webhook, WebhookVerificationError

from pipeline.callbacks import callback_secrets
from pipeline.callbacks.callback_secrets import (
    ROTATION_OVERLAP_SECONDS,
    SecretVersions,
    derive_secret,
    sign,
    signing_secrets,
)
from pipeline.store import clients

MASTER = "master-secret-for-unit-tests"
BODY = json.dumps({"job_id": "job_1", "status": "completed"})
ROTATED_AT = 1_800_000_000.0


def _headers(signature: str, message_id: str = "msg_job_1_completed") -> dict[str, str]:
    return {
        "webhook-id": message_id,
        "webhook-timestamp": str(int(datetime.now(UTC).timestamp())),
        "webhook-signature": signature,
    }


def _signed(secrets: list[str]) -> dict[str, str]:
    return _headers(sign(secrets, "msg_job_1_completed", datetime.now(UTC), BODY))


def _verifies(secret: str, headers: dict[str, str]) -> bool:
    try:
        Webhook(secret).verify(BODY, headers)
    except WebhookVerificationError:
        return False
    return True


def test_a_clients_secret_verifies_its_own_callbacks_and_not_another_clients() -> None:
    alpha = derive_secret(MASTER, "client-alpha", 0)
    beta = derive_secret(MASTER, "client-beta", 0)
    assert alpha.startswith("whsec_")
    assert alpha != beta
    to_alpha = _signed([alpha])
    assert _verifies(alpha, to_alpha)
    assert not _verifies(beta, to_alpha)
    assert not _verifies(alpha, _signed([beta]))


def test_secrets_depend_on_master_client_and_version_and_are_stable() -> None:
    assert derive_secret(MASTER, "c", 0) == derive_secret(MASTER, "c", 0)
    distinct = {
        derive_secret(MASTER, "c", 0),
        derive_secret(MASTER, "c", 1),
        derive_secret("another-master", "c", 0),
        derive_secret(MASTER, "c0", 0),
        derive_secret(MASTER, "", 0),
    }
    assert len(distinct) == 5
    # A valid Standard Webhooks key: 32 bytes of HMAC output.
    assert len(Webhook(derive_secret(MASTER, "c", 0))._whsecret) == 32


def test_a_new_client_signs_with_version_zero() -> None:
    versions = SecretVersions.from_profile({"client_id": "c", "item": "profile"})
    assert versions.valid_versions(ROTATED_AT) == [0]


def test_after_rotation_old_and_new_verify_for_24_hours_then_only_the_new() -> None:
    old = derive_secret(MASTER, "c", 0)
    new = derive_secret(MASTER, "c", 1)
    versions = SecretVersions.from_profile(
        {
            clients.CALLBACK_SECRET_VERSION: 1,
            clients.CALLBACK_SECRET_PREVIOUS_VERSION: 0,
            clients.CALLBACK_SECRET_ROTATED_AT: int(ROTATED_AT),
        }
    )
    during = _signed(signing_secrets(MASTER, "c", versions, ROTATED_AT + 3600))
    assert len(during["webhook-signature"].split(" ")) == 2
    assert _verifies(old, during)
    assert _verifies(new, during)
    just_before = _signed(signing_secrets(MASTER, "c", versions, ROTATED_AT + ROTATION_OVERLAP_SECONDS - 1))
    assert _verifies(old, just_before)
    after = _signed(signing_secrets(MASTER, "c", versions, ROTATED_AT + ROTATION_OVERLAP_SECONDS))
    assert after["webhook-signature"].count("v1,") == 1
    assert _verifies(new, after)
    assert not _verifies(old, after)
    # Nobody else's secret verifies either, during the overlap or after it.
    assert not _verifies(derive_secret(MASTER, "other", 0), during)
    assert not _verifies(derive_secret(MASTER, "other", 1), during)


class FakeProfiles:
    """The clients table's profile items, with the same atomic version bump as the DAL."""

    def __init__(self) -> None:
        self.items: dict[str, dict[str, Any]] = {}

    def get_profile(self, client_id: str) -> dict[str, Any]:
        return dict(self.items.get(client_id, {"client_id": client_id, "item": "profile"}))

    def rotate(self, client_id: str, now: float) -> dict[str, Any]:
        item = self.items.setdefault(client_id, {"client_id": client_id, "item": "profile"})
        version = item.get(clients.CALLBACK_SECRET_VERSION, 0)
        item[clients.CALLBACK_SECRET_PREVIOUS_VERSION] = version
        item[clients.CALLBACK_SECRET_VERSION] = version + 1
        item[clients.CALLBACK_SECRET_ROTATED_AT] = int(now)
        return dict(item)


@pytest.fixture
def profiles(monkeypatch: pytest.MonkeyPatch) -> FakeProfiles:
    fake = FakeProfiles()
    monkeypatch.setattr(clients, "get_profile", fake.get_profile)
    monkeypatch.setattr(clients, "rotate_callback_secret", fake.rotate)
    monkeypatch.setattr(callback_secrets.secret_store, "callback_master_secret", lambda: MASTER)
    return fake


def test_rotate_answers_a_new_secret_that_signs_from_then_on(profiles: FakeProfiles) -> None:
    first = callback_secrets.current_secret("c")
    rotated = callback_secrets.rotate("c", clock=lambda: ROTATED_AT)
    assert rotated != first
    assert callback_secrets.current_secret("c") == rotated
    assert callback_secrets.current_secret("other") == derive_secret(MASTER, "other", 0)
    during = callback_secrets.secrets_for_delivery("c", clock=lambda: ROTATED_AT + 60)
    assert during == [rotated, first]
    after = callback_secrets.secrets_for_delivery("c", clock=lambda: ROTATED_AT + ROTATION_OVERLAP_SECONDS)
    assert after == [rotated]
    # Rotating again drops the oldest secret at once: only the last two ever sign.
    again = callback_secrets.rotate("c", clock=lambda: ROTATED_AT + 120)
    assert callback_secrets.secrets_for_delivery("c", clock=lambda: ROTATED_AT + 180) == [again, rotated]


def test_an_unreadable_master_changes_nothing(
    profiles: FakeProfiles, monkeypatch: pytest.MonkeyPatch
) -> None:
    def broken() -> str:
        raise RuntimeError("secrets manager down")

    monkeypatch.setattr(callback_secrets.secret_store, "callback_master_secret", broken)
    with pytest.raises(RuntimeError):
        callback_secrets.rotate("c", clock=lambda: ROTATED_AT)
    assert profiles.items == {}
