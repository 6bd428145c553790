"""Settings of one simulator instance (fixed for its lifetime; scenarios change per project)."""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

# The catalogue is the product's own data file, so the simulator accepts exactly the tools the
# pipeline knows about; the path is resolved from the repository layout, not the working directory.
DEFAULT_TOOLS_PATH = (
    Path(__file__).resolve().parents[2] / "shared/pipeline/magic_hour/data/magic_hour_tools.json"
)

DEFAULT_PORT = 4010
DEFAULT_API_KEY = "mh-local-key"
DEFAULT_WEBHOOK_SECRET = "whsec_local_dev_secret"  # noqa: S105 - documented local-only default
DEFAULT_API_PORT = 3000


@dataclass(frozen=True)
class SimulatorConfig:
    host: str = "127.0.0.1"
    port: int = DEFAULT_PORT
    api_key: str = DEFAULT_API_KEY
    webhook_secret: str = DEFAULT_WEBHOOK_SECRET
    # None means no automatic webhook delivery at all (POST /_sim/webhooks then answers 409).
    webhook_url: str | None = None
    # Magic Hour retries for up to 24 h; locally that is scaled down to a few seconds.
    webhook_max_attempts: int = 6
    webhook_retry_base_seconds: float = 0.2
    # Magic Hour asks receivers to answer within 10 s, so it gives up on an attempt after that.
    webhook_timeout_seconds: float = 10.0
    webhook_workers: int = 16
    upload_url_expire_seconds: float = 3600.0
    # Uploads live in memory; these bounds keep a long-running local stack from growing forever.
    max_upload_bytes: int = 128 * 1024 * 1024
    max_upload_total_bytes: int = 512 * 1024 * 1024
    # Input files are fetched while the create waits, so each is bounded in time and size (streamed,
    # so memory stays flat whatever the size).
    input_timeout_seconds: float = 5.0
    input_total_seconds: float = 15.0
    input_max_bytes: int = 1 << 30
    log_requests: bool = True
    tools_path: Path = field(default=DEFAULT_TOOLS_PATH)

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> SimulatorConfig:
        """The settings `python -m local.simulator` and the local stack document."""
        values = os.environ if env is None else env
        api_port = values.get("LOCAL_API_PORT", str(DEFAULT_API_PORT))
        webhook_url = values.get("LOCAL_SIM_WEBHOOK_URL", f"http://127.0.0.1:{api_port}/webhooks/magic-hour")
        return cls(
            port=int(values.get("LOCAL_MAGIC_HOUR_PORT", str(DEFAULT_PORT))),
            api_key=values.get("LOCAL_MAGIC_HOUR_API_KEY", DEFAULT_API_KEY),
            webhook_secret=values.get("LOCAL_WEBHOOK_SECRET", DEFAULT_WEBHOOK_SECRET),
            # An explicitly empty URL is the only way to switch delivery off from the environment.
            webhook_url=webhook_url or None,
        )
