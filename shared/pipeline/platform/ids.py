"""Job ids, and the tag that carries a job id through Magic Hour's project `name`.

Magic Hour stores and echoes a project's `name`. Putting our job id there lets the webhook (and the
sweep) find the job for a project even when our write of the project id never happened.
"""

from __future__ import annotations

import base64
import hashlib
import re
import secrets

JOB_ID_PREFIX = "job_"
_JOB_ID_BODY = 26
JOB_ID_PATTERN = re.compile(rf"{JOB_ID_PREFIX}[a-z2-7]{{{_JOB_ID_BODY}}}")
_NAME_TAG = re.compile(rf"\[({JOB_ID_PREFIX}[a-z2-7]{{{_JOB_ID_BODY}}})\]\s*$")
MAGIC_HOUR_NAME_MAX = 200


def _encode(raw: bytes) -> str:
    return base64.b32encode(raw).decode("ascii").lower().rstrip("=")[:_JOB_ID_BODY]


def new_job_id() -> str:
    return JOB_ID_PREFIX + _encode(secrets.token_bytes(17))


def job_id_for_idempotency_key(client_id: str, idempotency_key: str) -> str:
    """The same client and key always name the same job: a retry can never make a second one."""
    digest = hashlib.sha256(f"{client_id}\x00{idempotency_key}".encode()).digest()
    return JOB_ID_PREFIX + _encode(digest)


def is_job_id(value: str) -> bool:
    return bool(JOB_ID_PATTERN.fullmatch(value))


def project_name_for(job_id: str, label: str) -> str:
    tag = f" [{job_id}]"
    return label[: MAGIC_HOUR_NAME_MAX - len(tag)] + tag


def job_id_from_project_name(name: str | None) -> str | None:
    if not name:
        return None
    match = _NAME_TAG.search(name)
    return match.group(1) if match else None


BATCH_ID_PREFIX = "batch_"
BATCH_ID_PATTERN = re.compile(rf"{BATCH_ID_PREFIX}[a-z2-7]{{{_JOB_ID_BODY}}}")


def new_batch_id() -> str:
    return BATCH_ID_PREFIX + _encode(secrets.token_bytes(17))


def batch_id_for_idempotency_key(client_id: str, idempotency_key: str) -> str:
    """As for jobs, but never the same digest as a job's under the same key."""
    digest = hashlib.sha256(f"batch\x00{client_id}\x00{idempotency_key}".encode()).digest()
    return BATCH_ID_PREFIX + _encode(digest)


def is_batch_id(value: str) -> bool:
    return bool(BATCH_ID_PATTERN.fullmatch(value))


def job_id_in_batch(batch_id: str, index: int) -> str:
    """The job at `index` of a batch: the same on every retry of the batch's writing."""
    digest = hashlib.sha256(f"{batch_id}\x00{index}".encode()).digest()
    return JOB_ID_PREFIX + _encode(digest)
