"""Settings read once per cold start from the function's environment (set by template.yaml)."""

from __future__ import annotations

import os
from functools import lru_cache

from pydantic import BaseModel, Field, field_validator


class Settings(BaseModel):
    jobs_table_name: str = "jobs"
    idempotency_table_name: str = "idempotency"
    download_queue_url: str = ""
    output_bucket_name: str = "outputs"
    magic_hour_base_url: str = "https://api.magichour.ai"
    # Names (or ARNs) of the secrets, not the secrets themselves.
    magic_hour_api_key_secret: str = "magic-hour/api-key"  # noqa: S105
    magic_hour_webhook_secret: str = "magic-hour/webhook-secret"  # noqa: S105
    # Seconds a cached secret is trusted before Secrets Manager is asked again (rotation lag).
    secret_max_age_seconds: int = 300
    magic_hour_connect_timeout_seconds: float = 3.05
    magic_hour_read_timeout_seconds: float = 20.0
    # Callback URLs must be https when deployed; the local stack allows http for test receivers.
    require_https_callbacks: bool = True
    presigned_url_ttl_seconds: int = Field(default=3600, ge=60, le=7 * 24 * 3600)
    # Hosts the downloader may fetch from (SSRF guard). Suffix match on the host name.
    download_allowed_hosts: list[str] = Field(default_factory=lambda: ["magichour.ai"])
    download_chunk_bytes: int = 8 * 1024 * 1024
    download_connect_timeout_seconds: float = 5.0
    download_read_timeout_seconds: float = 60.0
    # Explicit, growing delays between download attempts (the message's visibility is set to the
    # delay for its attempt number); the local stack scales them down to seconds.
    download_retry_delays_seconds: list[int] = Field(default_factory=lambda: [10, 30, 120, 600, 1800])
    # Must equal the download queue's maxReceiveCount: the last attempt fails the job.
    download_max_attempts: int = 6
    download_dead_letter_queue_url: str = ""
    delete_project_after_download: bool = False
    webhook_tolerance_seconds: int = 300
    # How long a duplicate `completed` delivery waits for the winner to finish queueing downloads.
    webhook_queue_wait_seconds: float = 3.0
    job_ttl_days: int = 90
    idempotency_ttl_seconds: int = 24 * 3600

    @field_validator("download_allowed_hosts", "download_retry_delays_seconds", mode="before")
    @classmethod
    def _split_list(cls, value: object) -> object:
        if isinstance(value, str):
            return [item.strip().lower() for item in value.split(",") if item.strip()]
        return value


def _from_environment(environ: dict[str, str]) -> Settings:
    fields = Settings.model_fields
    values = {name: environ[name.upper()] for name in fields if name.upper() in environ}
    return Settings.model_validate(values)


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    return _from_environment(dict(os.environ))
