"""Settings of the local stack (docs/local-stack.md), each overridable from the environment."""

from __future__ import annotations

import os
from dataclasses import dataclass, field

from local.resources import ACCOUNT_ID
from local.sigv4 import IamCaller, parse_callers

DEFAULT_MAGIC_HOUR_API_KEY = "mh-local-key"
DEFAULT_WEBHOOK_SECRET = "whsec_local_dev_secret"  # noqa: S105 - documented local-only default
# The token of the webhook's secret path (POST /webhooks/magic-hour/<token>); local use only.
DEFAULT_WEBHOOK_PATH_TOKEN = "local-webhook-path-token"  # noqa: S105 - documented local-only default
# Standard Webhooks secrets are "whsec_" + base64 of random bytes; this one is for local use only.
DEFAULT_CALLBACK_SECRET = "whsec_bG9jYWwtY2FsbGJhY2stc2lnbmluZy1zZWNyZXQ="  # noqa: S105 - local only
# Production waits 10 s, 30 s, 2 min... between download, callback and create attempts; locally a
# failed one is back within seconds (README, "Running it locally").
DEFAULT_RETRY_DELAYS = "1,1,2,2,3"


def _api_keys(raw: str) -> dict[str, str]:
    keys = {}
    for pair in raw.split(","):
        if "=" in pair:
            key, client = pair.split("=", 1)
            if key.strip() and client.strip():
                keys[key.strip()] = client.strip()
    if not keys:
        raise SystemExit("LOCAL_API_KEYS must hold comma-separated key=client_id pairs")
    return keys


def _client_budgets(raw: str) -> dict[str, int]:
    """`client_id=credits,...`: each client's daily credit budget (none by default)."""
    budgets = {}
    for pair in raw.split(","):
        if not pair.strip():
            continue
        client, _, credits = pair.partition("=")
        if not client.strip() or not credits.strip().isdigit():
            raise SystemExit("LOCAL_CLIENT_BUDGETS must hold comma-separated client_id=credits pairs")
        budgets[client.strip()] = int(credits.strip())
    return budgets


def _flag(name: str, raw: str) -> bool:
    value = raw.strip().lower()
    if value in ("", "0", "false", "no", "off"):
        return False
    if value in ("1", "true", "yes", "on"):
        return True
    raise SystemExit(f"{name} must be 1 or 0")


@dataclass(frozen=True)
class LocalConfig:
    host: str
    api_port: int
    aws_port: int
    magic_hour_port: int
    api_keys: dict[str, str]
    magic_hour_api_key: str
    webhook_secret: str
    callback_secret: str
    schedule_seconds: float
    region: str
    stack_name: str
    stage: str
    download_retry_delays: str
    callback_retry_delays: str
    magic_hour_max_concurrency: int | str  # a number, or "auto" (the simulator's account_tier)
    create_deadline_seconds: int
    create_retry_delays: str
    # Seeded into the clients table as each client's daily credit budget.
    client_budgets: dict[str, int] = field(default_factory=dict)
    # SigV4 callers the local gateway accepts, by access key id (LOCAL_IAM_CALLERS).
    iam_callers: dict[str, IamCaller] = field(default_factory=dict)
    # LOCAL_WEBHOOK_PATH_TOKEN: seeded into WebhookPathTokenSecret (the webhook's secret path).
    webhook_path_token: str = DEFAULT_WEBHOOK_PATH_TOKEN
    # LOCAL_AWS_FAULTS=1: the AWS fault proxy between the functions and moto (local/faults.py).
    aws_faults: bool = False
    faults_port: int = 5001

    @classmethod
    def from_environment(cls) -> LocalConfig:
        env = os.environ
        return cls(
            host="127.0.0.1",
            api_port=int(env.get("LOCAL_API_PORT", "3000")),
            aws_port=int(env.get("LOCAL_AWS_PORT", "5000")),
            magic_hour_port=int(env.get("LOCAL_MAGIC_HOUR_PORT", "4010")),
            api_keys=_api_keys(env.get("LOCAL_API_KEYS", "dev-key=local")),
            magic_hour_api_key=env.get("LOCAL_MAGIC_HOUR_API_KEY", DEFAULT_MAGIC_HOUR_API_KEY),
            webhook_secret=env.get("LOCAL_WEBHOOK_SECRET", DEFAULT_WEBHOOK_SECRET),
            callback_secret=env.get("LOCAL_CALLBACK_SECRET", DEFAULT_CALLBACK_SECRET),
            webhook_path_token=env.get("LOCAL_WEBHOOK_PATH_TOKEN", DEFAULT_WEBHOOK_PATH_TOKEN),
            schedule_seconds=float(env.get("LOCAL_SCHEDULE_SECONDS", "60")),
            region=env.get("AWS_DEFAULT_REGION", "us-east-1"),
            stack_name=env.get("LOCAL_STACK_NAME", "magic-hour-local"),
            stage=env.get("LOCAL_STAGE", "local"),
            download_retry_delays=env.get("LOCAL_DOWNLOAD_RETRY_DELAYS", DEFAULT_RETRY_DELAYS),
            callback_retry_delays=env.get("LOCAL_CALLBACK_RETRY_DELAYS", DEFAULT_RETRY_DELAYS),
            magic_hour_max_concurrency=_concurrency(env.get("LOCAL_MAGIC_HOUR_MAX_CONCURRENCY", "0")),
            # Deployed, a refused create is retried for hours; locally for a minute, in seconds.
            create_deadline_seconds=int(env.get("LOCAL_CREATE_DEADLINE_SECONDS", "60")),
            create_retry_delays=env.get("LOCAL_CREATE_RETRY_DELAYS", DEFAULT_RETRY_DELAYS),
            client_budgets=_client_budgets(env.get("LOCAL_CLIENT_BUDGETS", "")),
            iam_callers=parse_callers(env.get("LOCAL_IAM_CALLERS", ""), ACCOUNT_ID),
            aws_faults=_flag("LOCAL_AWS_FAULTS", env.get("LOCAL_AWS_FAULTS", "")),
            faults_port=int(env.get("LOCAL_FAULTS_PORT", "5001")),
        )

    @property
    def api_url(self) -> str:
        return f"http://{self.host}:{self.api_port}"

    @property
    def aws_url(self) -> str:
        return f"http://{self.host}:{self.aws_port}"

    @property
    def magic_hour_url(self) -> str:
        return f"http://{self.host}:{self.magic_hour_port}"


def _concurrency(value: str) -> int | str:
    """LOCAL_MAGIC_HOUR_MAX_CONCURRENCY: a number, or `auto` (the limit of the simulator's tier)."""
    text = value.strip().lower()
    return "auto" if text == "auto" else int(text)
