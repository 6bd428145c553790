"""Secrets from Secrets Manager through Powertools parameters, cached per warm container."""

from __future__ import annotations

import json

from aws_lambda_powertools.utilities import parameters

from pipeline.platform.settings import get_settings


def read_secret(name: str) -> str:
    return parameters.get_secret(name, max_age=get_settings().secret_max_age_seconds)


def magic_hour_api_key() -> str:
    return read_secret(get_settings().require("magic_hour_api_key_secret")).strip()


def callback_master_secret() -> str:
    """The master from which every client's callback secret is derived (never sent anywhere)."""
    master = read_secret(get_settings().require("callback_signing_secret")).strip()
    if not master:
        raise ValueError("the callback master secret is empty")
    return master


def webhook_secrets() -> list[str]:
    """The webhook secrets to accept: the current one, and the next one during a rotation.

    The secret holds either the plain secret or `{"current": "...", "next": "..."}`.
    """
    raw = read_secret(get_settings().require("magic_hour_webhook_secret")).strip()
    if raw.startswith("{"):
        document = json.loads(raw)
        return [str(document[key]) for key in ("current", "next") if document.get(key)]
    return [raw]


def webhook_path_tokens() -> list[str]:
    """The tokens the webhook's secret path accepts: the current one, and the previous one while
    Magic Hour may still deliver to its URL (docs/runbook.md, "Rotating the webhook path token").

    The secret holds either the plain token or `{"current": "...", "previous": "..."}`.
    """
    raw = read_secret(get_settings().require("webhook_path_token_secret")).strip()
    if raw.startswith("{"):
        document = json.loads(raw)
        return [str(document[key]).strip() for key in ("current", "previous") if document.get(key)]
    return [raw] if raw else []
