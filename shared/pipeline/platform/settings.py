"""Settings read once per cold start from the function's environment (set by template.yaml).

Each field is read from the variable of its name upper-cased, and is one of three kinds:

- a resource of the stack (ResourceSetting): no default, read with `require`, which fails naming
  the variable when the function's Environment lacks it;
- a deployment choice set from a template Parameter: its default here equals the Parameter's
  Default (tests/contract/test_settings_template.py compares them, parsed as here);
- a fixed figure no Parameter sets (timeouts of our own transports, windows of protocols): the
  same test lists each with the reason it is not a Parameter.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from functools import lru_cache
from types import MappingProxyType
from typing import Annotated, Literal

from pydantic import BaseModel, Field, field_validator, model_validator

# Just over a multiple of 3 s (TCP's first SYN retransmission comes after 3 s), so a connect whose
# first SYN was lost still gets its retry before giving up. Not a Parameter: the read timeout is
# the deployment's choice, the connect is not. local/stack.py sizes the local submit grace with it.
MAGIC_HOUR_CONNECT_TIMEOUT_SECONDS = 3.05
# SigV4 presigned URLs are valid for at most 7 days; S3 refuses a longer expiry.
PRESIGNED_URL_MAX_SECONDS = 7 * 24 * 3600
# Magic Hour's signed webhooks: a delivery whose timestamp is further than this from our clock is
# refused as a replay (the window of the signature scheme, not a deployment choice).
WEBHOOK_TOLERANCE_SECONDS = 300

# Deployed (callback_allow_private_addresses false), callback URLs must use one of these ports:
# receivers listen where web servers do, and any other port would let a callback URL probe what
# listens where. Submit refuses others (422) and delivery refuses them again, with one rule.
CALLBACK_WEB_PORTS = (443, 80, 8443)

# The stack's own resources: table and bucket names, queue URLs, names (or ARNs) of secrets. They
# have no default: a function started without one must not quietly talk to a table called "jobs".
# Each is None until read, and reading it (Settings.require) where the template did not set it
# fails naming the variable. Not every function has every one: each function's Environment in
# template.yaml sets what its code reads (tests/contract/test_settings_template.py checks it).
ResourceSetting = Literal[
    "jobs_table_name",
    "clients_table_name",
    "output_bucket_name",
    "input_bucket_name",
    "download_queue_url",
    "download_dead_letter_queue_url",
    "callback_queue_url",
    "callback_dead_letter_queue_url",
    "callback_lanes_table_name",
    "dispatch_queue_url",
    "magic_hour_api_key_secret",
    "magic_hour_webhook_secret",
    "webhook_path_token_secret",
    "callback_signing_secret",
    "event_bus_name",
]


class MissingSetting(RuntimeError):
    """A resource setting the running code needs is not in the function's environment: a template
    error, raised where it is first used rather than hidden behind a default."""

    def __init__(self, name: str) -> None:
        self.variable = name.upper()
        super().__init__(
            f"environment variable {self.variable} is not set: this function's Environment in "
            f"template.yaml (or Globals) must set it for the code that reads {name}"
        )


class Settings(BaseModel):
    jobs_table_name: str | None = None
    clients_table_name: str | None = None
    download_queue_url: str | None = None
    output_bucket_name: str | None = None
    event_bus_name: str | None = None
    magic_hour_base_url: str = "https://api.magichour.ai"
    # Names (or ARNs) of the secrets, not the secrets themselves.
    magic_hour_api_key_secret: str | None = None
    magic_hour_webhook_secret: str | None = None
    # The secret holding the webhook route's path token(s) (POST /webhooks/magic-hour/{token}).
    webhook_path_token_secret: str | None = None
    # WebhookPlainRoute: whether POST /webhooks/magic-hour (no token) still takes deliveries.
    webhook_plain_route: bool = True
    # Seconds a cached secret is trusted before Secrets Manager is asked again (rotation lag).
    secret_max_age_seconds: int = 300
    magic_hour_connect_timeout_seconds: float = MAGIC_HOUR_CONNECT_TIMEOUT_SECONDS
    magic_hour_read_timeout_seconds: float = 20.0
    # Callback URLs must be https when deployed; the local stack allows http for test receivers.
    require_https_callbacks: bool = True
    # CallerAuth: which callers the API serves (an API key, a SigV4 signature, or either).
    caller_auth: Literal["api-key", "iam", "both"] = "api-key"
    presigned_url_ttl_seconds: int = Field(default=3600, ge=60, le=PRESIGNED_URL_MAX_SECONDS)
    # Hosts the downloader may fetch from (SSRF guard). Suffix match on the host name. Magic Hour
    # serves every output (video, image, audio) from videos.magichour.ai.
    download_allowed_hosts: list[str] = Field(default_factory=lambda: ["videos.magichour.ai"])
    # Deployed, outputs are fetched over https only; the local stack's simulator serves http.
    download_require_https: bool = True
    download_chunk_bytes: int = 8 * 1024 * 1024
    # The largest output stored (DownloadMaxBytes): a larger one fails its job (permanent).
    download_max_bytes: int = Field(default=10 * 1024**3, ge=1)
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
    download_dead_letter_queue_url: str | None = None
    delete_project_after_download: bool = False
    webhook_tolerance_seconds: int = WEBHOOK_TOLERANCE_SECONDS
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
    # How many checks run at once (each mostly waits on one Magic Hour GET), and how many due
    # entries one run keeps in memory at most: the batch itself has no fixed size, it grows with
    # the backlog for as long as the run's time budget lasts (pipeline/logic/sweep_batch.py).
    sweep_concurrency: int = Field(default=8, ge=1, le=64)
    sweep_scan_limit: int = Field(default=20000, ge=1)
    # Client callbacks (Standard Webhooks), delivered from their own queue.
    callback_queue_url: str | None = None
    callback_dead_letter_queue_url: str | None = None
    callback_signing_secret: str | None = None  # the secret's name
    # The whole of one attempt (connect, TLS, send, answer), not a per-read timeout.
    callback_timeout_seconds: float = 5.0
    callback_connect_timeout_seconds: float = 3.0
    # Growing delays between attempts, about 24 h in all; then the callback is `failed`.
    callback_retry_delays_seconds: list[int] = Field(
        default_factory=lambda: [30, 120, 600, 1800, 3600, 7200, 14400, 28800, 28800]
    )
    # Deployed, callback URLs must not resolve to private, loopback or link-local addresses.
    callback_allow_private_addresses: bool = False
    # Each client's callback lane (store/callback_lanes.py): at most this many of one client's
    # attempts at once, well under the function's MaximumConcurrency, so one client's hanging
    # receivers never hold the places another client's callbacks need.
    callback_lanes_table_name: str | None = None
    callback_client_concurrency: int = Field(default=10, ge=1, le=1000)
    # A message over its client's lane comes back after about this long (not as an attempt).
    callback_lane_wait_seconds: int = Field(default=5, ge=1, le=900)
    # Magic Hour's plan caps renders at once (3 on Creator, 5 on Pro); 0 = no cap of ours. Jobs
    # over it wait (`waiting`) and are created by the dispatcher as slots free.
    # `auto`: the limit of the account's tier, read from Magic Hour (pipeline/magic_hour/account.py).
    # Read it through account.concurrency_limit(), never here.
    # The daily credit budget of a client the operator gave none (0 = none): a new key is never
    # an unlimited one by accident. A client's own budget (ops set-budget) always wins.
    default_daily_credit_budget: int = Field(default=0, ge=0)
    magic_hour_max_concurrency: Annotated[int, Field(ge=0, le=1000)] | Literal["auto"] = 0
    dispatch_queue_url: str | None = None
    # A create that Magic Hour answers 429/500/503 (nothing created) is retried after these delays
    # (or its Retry-After, whichever is longer; the last value repeats) until the deadline, counted
    # from the job's submission; then the job fails upstream_rate_limited/upstream_unavailable.
    create_retry_delays_seconds: list[int] = Field(default_factory=lambda: [5, 15, 30, 60, 120, 300])
    create_deadline_seconds: int = Field(default=10800, ge=1)
    # The sweep's schedule period; the submit grace must outlast a create timeout plus two sweeps.
    sweep_interval_minutes: float = Field(default=5, gt=0)
    # Inputs from S3 (POST /v1/uploads and s3:// file paths). The input bucket holds uploads under
    # uploads/<client>/; `input_bucket_names` are other buckets any client may name.
    input_bucket_name: str | None = None
    input_bucket_names: list[str] = Field(default_factory=list)
    # How long the presigned GET handed to Magic Hour works (see README, "Inputs from S3").
    input_url_ttl_seconds: int = Field(default=6 * 3600, ge=60, le=PRESIGNED_URL_MAX_SECONDS)
    # How long a client has to PUT the bytes to its upload URL.
    upload_url_ttl_seconds: int = Field(default=900, ge=60, le=PRESIGNED_URL_MAX_SECONDS)
    # The largest upload (MaxUploadBytes): signed into the PUT when the client says its size, else
    # checked (HEAD) when a job names the upload. At most S3's limit of one PUT, 5 GiB.
    max_upload_bytes: int = Field(default=1024**3, ge=1, le=5 * 1024**3)
    # Upload URLs one client may mint per UTC day (DailyUploadQuota); 0 = no limit.
    daily_upload_quota: int = Field(default=1000, ge=0)
    # s3:// inputs of at least this many bytes are copied into Magic Hour's own storage instead of
    # being handed over as a presigned GET; 0: never, 1: always.
    magic_hour_upload_min_bytes: int = Field(default=0, ge=0)

    def require(self, name: ResourceSetting) -> str:
        """The value of a resource setting, or MissingSetting naming its environment variable."""
        value: str | None = getattr(self, name)
        if not value:
            raise MissingSetting(name)
        return value

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


# What Lambda and Powertools themselves set, not the template: whether to trace, the metrics'
# namespace. Read apart from Settings, which can fail to validate, so that a metric or a trace
# never fails with them (the unhandled-error metric is written exactly when something is wrong).
_RUNTIME_PREFIXES = ("POWERTOOLS_", "LAMBDA_", "AWS_SAM_LOCAL", "AWS_CHALICE_CLI_MODE")


@lru_cache(maxsize=1)
def runtime_environment() -> Mapping[str, str]:
    """The Lambda and Powertools variables, read once per cold start like the settings."""
    found = {name: value for name, value in os.environ.items() if name.startswith(_RUNTIME_PREFIXES)}
    return MappingProxyType(found)
