"""Settings read once per cold start from the function's environment (set by template.yaml)."""

from __future__ import annotations

import os
from functools import lru_cache

from pydantic import BaseModel, Field, field_validator, model_validator


class Settings(BaseModel):
    jobs_table_name: str = "jobs"
    idempotency_table_name: str = "idempotency"
    clients_table_name: str = "clients"
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
    # Hosts the downloader may fetch from (SSRF guard). Suffix match on the host name. Magic Hour
    # serves every output (video, image, audio) from videos.magichour.ai.
    download_allowed_hosts: list[str] = Field(default_factory=lambda: ["videos.magichour.ai"])
    # Deployed, outputs are fetched over https only; the local stack's simulator serves http.
    download_require_https: bool = True
    download_chunk_bytes: int = 8 * 1024 * 1024
    # Ranges fetched (and parts uploaded) at once for a server that honours Range; memory holds at
    # most this many parts of download_chunk_bytes.
    download_parallel_ranges: int = Field(default=4, ge=1, le=16)
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
    # Reconciliation sweep. A job that has not moved for `quiet` seconds is checked at Magic Hour,
    # then again after base, 2 x base, 4 x base ... up to max; one still unsettled after `give_up`
    # seconds fails. A `submitting` job without a project fails after `submit_grace` (it is never
    # submitted twice); a `downloading` job quiet for `download_stuck` has its missing outputs
    # queued again.
    sweep_quiet_seconds: int = 300
    sweep_backoff_base_seconds: int = 60
    sweep_backoff_max_seconds: int = 1800
    sweep_submit_grace_seconds: int = 900
    sweep_download_stuck_seconds: int = 7200
    sweep_give_up_seconds: int = 86400
    sweep_batch_limit: int = 200
    # Client callbacks (Standard Webhooks), delivered from their own queue.
    callback_queue_url: str = ""
    callback_dead_letter_queue_url: str = ""
    callback_signing_secret: str = "callbacks/signing-secret"  # noqa: S105 - a name, not a secret
    # The whole of one attempt (connect, TLS, send, answer), not a per-read timeout.
    callback_timeout_seconds: float = 5.0
    callback_connect_timeout_seconds: float = 3.0
    # Growing delays between attempts, about 24 h in all; then the callback is `failed`.
    callback_retry_delays_seconds: list[int] = Field(
        default_factory=lambda: [30, 120, 600, 1800, 3600, 7200, 14400, 28800, 28800]
    )
    # Deployed, callback URLs must not resolve to private, loopback or link-local addresses.
    callback_allow_private_addresses: bool = False
    idempotency_ttl_seconds: int = 24 * 3600
    # Magic Hour's plan caps renders at once (3 on Creator, 5 on Pro); 0 = no cap of ours. Jobs
    # over it wait (`waiting`) and are created by the dispatcher as slots free.
    magic_hour_max_concurrency: int = Field(default=0, ge=0, le=1000)
    dispatch_queue_url: str = ""
    # A create that Magic Hour answers 429/500/503 (nothing created) is retried after these delays
    # (or its Retry-After, whichever is longer; the last value repeats) until the deadline, counted
    # from the job's submission; then the job fails upstream_rate_limited/upstream_unavailable.
    create_retry_delays_seconds: list[int] = Field(default_factory=lambda: [5, 15, 30, 60, 120, 300])
    create_deadline_seconds: int = Field(default=10800, ge=1)
    # The sweep's schedule period; the submit grace must outlast a create timeout plus two sweeps.
    sweep_interval_minutes: float = Field(default=5, gt=0)
    # Inputs from S3 (POST /v1/uploads and s3:// file paths). The input bucket holds uploads under
    # uploads/<client>/; `input_bucket_names` are other buckets any client may name.
    input_bucket_name: str = ""
    input_bucket_names: list[str] = Field(default_factory=list)
    # How long the presigned GET handed to Magic Hour works (see README, "Inputs from S3").
    input_url_ttl_seconds: int = Field(default=6 * 3600, ge=60, le=7 * 24 * 3600)
    # How long a client has to PUT the bytes to its upload URL.
    upload_url_ttl_seconds: int = Field(default=3600, ge=60, le=7 * 24 * 3600)
    # s3:// inputs of at least this many bytes are copied into Magic Hour's own storage instead of
    # being handed over as a presigned GET; 0: never, 1: always.
    magic_hour_upload_min_bytes: int = Field(default=0, ge=0)

    @model_validator(mode="after")
    def _grace_outlasts_a_create(self) -> Settings:
        # A `submitting` job whose create outcome is unknown must not fail before Magic Hour could
        # have answered and the sweep could have looked twice: failing it earlier would make a
        # charged project late, and a client that trusted the failure might pay again.
        minimum = (
            self.magic_hour_connect_timeout_seconds
            + self.magic_hour_read_timeout_seconds
            + 2 * self.sweep_interval_minutes * 60
        )
        if self.sweep_submit_grace_seconds <= minimum:
            raise ValueError(
                f"sweep_submit_grace_seconds ({self.sweep_submit_grace_seconds}) must be longer than the "
                f"Magic Hour create timeout plus two sweep periods ({minimum:g} s)"
            )
        return self

    @field_validator(
        "download_allowed_hosts",
        "download_retry_delays_seconds",
        "callback_retry_delays_seconds",
        "create_retry_delays_seconds",
        "input_bucket_names",
        mode="before",
    )
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
