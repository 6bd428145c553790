"""A batch's results file in the output bucket: `results/<client_id>/<batch_id>.jsonl`.

Written as a stream with bounded memory: the lines are gathered into parts of PART_BYTES and each
part is uploaded as soon as it is full (a multipart upload), so a batch of 10,000 jobs holds one
part in memory, never the file. A small file is one PutObject. The key is the same on every
attempt, so a retry after a crash rewrites the same object; an upload that fails is aborted (the
bucket's lifecycle rule removes any part a killed function left behind).
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterable

from pipeline.platform.aws import s3_client
from pipeline.platform.settings import get_settings
from pipeline.store import outputs

# S3's smallest part is 5 MiB (except the last); a few parts for 10,000 lines of a few hundred bytes.
PART_BYTES = 8 * 1024 * 1024
CONTENT_TYPE = "application/jsonl"


def results_key(client_id: str, batch_id: str) -> str:
    return f"results/{client_id}/{batch_id}.jsonl"


def write_lines(key: str, lines: Iterable[bytes], part_bytes: int = PART_BYTES) -> int:
    """Write `lines` (each ending in a newline) to `key`; the file's size in bytes."""
    buffer = bytearray()
    parts: list[outputs.UploadedPart] = []
    upload_id: str | None = None
    size = 0
    try:
        for line in lines:
            buffer += line
            size += len(line)
            if len(buffer) >= part_bytes:
                if upload_id is None:
                    upload_id = outputs.start_multipart(key, CONTENT_TYPE, {})
                parts.append(outputs.upload_part(key, upload_id, len(parts) + 1, buffer))
                buffer = bytearray()
        if upload_id is None:
            s3_client().put_object(
                Bucket=get_settings().require("output_bucket_name"),
                Key=key,
                Body=bytes(buffer),
                ContentType=CONTENT_TYPE,
            )
            return size
        if buffer:
            parts.append(outputs.upload_part(key, upload_id, len(parts) + 1, buffer))
        outputs.complete_multipart(key, upload_id, parts)
    except BaseException:
        if upload_id is not None:
            with contextlib.suppress(Exception):  # the original failure is the one to report
                outputs.abort_multipart(key, upload_id)
        raise
    return size


def presigned_get(key: str, expires_in: int) -> str:
    """A short-lived GET of the file: never logged (docs/runbook.md)."""
    return outputs.presigned_get(key, expires_in)
