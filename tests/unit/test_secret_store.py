"""Webhook secrets during a rotation: the current one and the next one are both accepted."""

from __future__ import annotations

import pytest

from pipeline.platform import secret_store
from pipeline.platform.settings import Settings


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
    settings = Settings(magic_hour_webhook_secret="stack-webhook-secret")
    monkeypatch.setattr(secret_store, "get_settings", lambda: settings)
    monkeypatch.setattr(secret_store, "read_secret", lambda name: {"stack-webhook-secret": stored}[name])
    assert secret_store.webhook_secrets() == expected


@pytest.mark.parametrize(
    ("stored", "expected"),
    [
        ("tok-only", ["tok-only"]),
        ("  tok-padded\n", ["tok-padded"]),
        ("", []),
        ('{"current": "tok-new", "previous": "tok-old"}', ["tok-new", "tok-old"]),
        ('{"current": "tok-new", "previous": ""}', ["tok-new"]),
    ],
)
def test_webhook_path_tokens_reads_plain_or_rotating_values(monkeypatch, stored, expected) -> None:
    settings = Settings(webhook_path_token_secret="stack-path-token")
    monkeypatch.setattr(secret_store, "get_settings", lambda: settings)
    monkeypatch.setattr(secret_store, "read_secret", lambda name: {"stack-path-token": stored}[name])
    assert secret_store.webhook_path_tokens() == expected
