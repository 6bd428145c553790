"""Webhook secrets during a rotation: the current one and the next one are both accepted."""

from __future__ import annotations

import pytest

from pipeline import secret_store


@pytest.mark.parametrize(
    ("stored", "expected"),
    [
        ("whsec_only", ["whsec_only"]),
        ("  whsec_padded\n", ["whsec_padded"]),
        ('{"current": "whsec_old", "next": "whsec_new"}', ["whsec_old", "whsec_new"]),
        ('{"current": "whsec_old"}', ["whsec_old"]),
    ],
)
def test_webhook_secrets_reads_plain_or_rotating_values(monkeypatch, stored, expected) -> None:
    monkeypatch.setattr(secret_store, "read_secret", lambda name: stored)
    assert secret_store.webhook_secrets() == expected
