"""The fault-injection scenario (local/simulator/README.md): defaults, validation and merging."""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from local.simulator.schema import compile_schema, validate

DEFAULT_ERROR: dict[str, str] = {
    "code": "unknown_error",
    "message": "An unknown error occurred while rendering. Please try again.",
}

# The contract names 400/402/422/429/500/503; the other statuses Magic Hour documents are accepted
# too because forcing them costs nothing and helps test the pipeline's mapping of each.
# 501, 520 and 524 are answers Magic Hour does not document as "nothing created" (520/524 come
# from its CDN after the origin received the request): the pipeline must read them as unknown.
CREATE_STATUSES = (200, 400, 401, 402, 403, 422, 429, 500, 501, 502, 503, 504, 520, 524)
# What POST /v1/files/upload-urls may be forced to answer (it creates nothing, whatever it says).
UPLOAD_URL_STATUSES = (200, 500, 502, 503, 504)

_SCHEMA: dict[str, Any] = {
    "type": "object",
    "additionalProperties": False,
    "properties": {
        "render_seconds": {"type": "number", "minimum": 0, "maximum": 86400},
        "outcome": {"type": "string", "enum": ["complete", "error", "canceled"]},
        "error": {
            "type": "object",
            "additionalProperties": False,
            "properties": {"code": {"type": "string", "minLength": 1}, "message": {"type": "string"}},
        },
        "outputs": {"type": "integer", "minimum": 0, "maximum": 100},
        "output_bytes": {"type": "integer", "minimum": 0, "maximum": 1 << 40},
        "create_status": {"type": "integer", "enum": list(CREATE_STATUSES)},
        # GET /v1/account: the balance is set at once (and then follows charges and refunds).
        "account_credits": {"type": "integer", "minimum": -(2**53) + 1, "maximum": 2**53 - 1},
        "account_tier": {"type": "string", "enum": ["free", "creator", "pro", "business"]},
        "create_commits": {"type": "boolean"},
        "upload_url_status": {"type": "integer", "enum": list(UPLOAD_URL_STATUSES)},
        "plan_concurrency": {"type": "integer", "minimum": 0, "maximum": 100000},
        "create_delay_seconds": {"type": "number", "minimum": 0, "maximum": 3600},
        "webhook_send": {"type": "boolean"},
        "webhook_started": {"type": "boolean"},
        "image_started_skip_ratio": {"type": "number", "minimum": 0, "maximum": 1},
        "webhook_duplicates": {"type": "integer", "minimum": 0, "maximum": 20},
        "webhook_reverse_order": {"type": "boolean"},
        "webhook_bad_signature": {"type": "boolean"},
        "webhook_delay_seconds": {"type": "number", "minimum": 0, "maximum": 86400},
        # Ten years: expiry is signed in integer milliseconds, so it must stay a finite number.
        "download_expire_seconds": {"type": "number", "minimum": 0, "maximum": 315360000},
        "download_fail_first": {"type": "integer", "minimum": 0, "maximum": 1000000},
        "download_fail_status": {"type": "integer", "minimum": 400, "maximum": 599},
        "download_truncate_first": {"type": "integer", "minimum": 0, "maximum": 1000000},
        # At least a byte a second: slower would make a throttled answer sleep for ever.
        "download_bytes_per_second": {"type": ["number", "null"], "minimum": 1, "maximum": 1 << 40},
    },
}
_VALIDATOR = compile_schema(_SCHEMA)
_INTEGER_FIELDS = frozenset(
    name for name, spec in _SCHEMA["properties"].items() if spec.get("type") == "integer"
)


@dataclass(frozen=True)
class Scenario:
    render_seconds: float = 0.5
    outcome: str = "complete"
    error: dict[str, str] = field(default_factory=lambda: dict(DEFAULT_ERROR))
    outputs: int = 1
    output_bytes: int = 65536
    create_status: int = 200
    # The balance GET /v1/account started from when last set (see account.py); the tier it names.
    account_credits: int = 1_000_000
    account_tier: str = "business"
    # With a forced 5xx: the project is created and runs all the same, as when a proxy in front of
    # Magic Hour fails after the create committed.
    create_commits: bool = False
    # Force the answer of the upload-URL call (POST /v1/files/upload-urls): 502/504 as a gateway.
    upload_url_status: int = 200
    # The plan's concurrent renders (Magic Hour: 3, 5 or unlimited); 0 = unlimited.
    plan_concurrency: int = 0
    create_delay_seconds: float = 0
    webhook_send: bool = True
    webhook_started: bool = True
    # Magic Hour "may skip" image.started. Off by default (the contract's default sends it); a
    # ratio skips it for about that share of image projects, chosen by project id (reproducible).
    image_started_skip_ratio: float = 0.0
    webhook_duplicates: int = 0
    webhook_reverse_order: bool = False
    webhook_bad_signature: bool = False
    webhook_delay_seconds: float = 0
    download_expire_seconds: float = 86400
    download_fail_first: int = 0
    download_fail_status: int = 500
    download_truncate_first: int = 0
    download_bytes_per_second: float | None = None

    def to_json(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    def merged(self, patch: Any) -> Scenario:
        """A copy with `patch` applied; raises ValidationFailed naming the bad field."""
        validate(_VALIDATOR, patch)
        assert isinstance(patch, Mapping)  # guaranteed by the schema; narrows the type
        changes: dict[str, Any] = {}
        for name, value in patch.items():
            if name == "error":
                # A partial error object keeps the other key, so {"code": "x"} is enough to set.
                changes[name] = {**self.error, **value}
            elif name in _INTEGER_FIELDS:
                # JSON Schema accepts 2.0 as an integer; counters and sizes must be real ints.
                changes[name] = int(value)
            else:
                changes[name] = value
        return dataclasses.replace(self, **changes)
