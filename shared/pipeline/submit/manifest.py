"""Manifest batches: `POST /v1/batches` with `{"manifest": "s3://..."}` naming a JSON Lines upload
of the same client, one job envelope with its `custom_id` per line (CONTRACT §1 "Batches").

Validated in the request, as a stream (docs/design.md "Manifest batches" says why it fits the
29 s API limit): every line is checked as an inline batch's job is (batch_request.job_of), and one
bad line refuses the whole batch with `422 validation_failed`, each detail naming its `line` (from
1), `custom_id`, `code`, `loc` and `msg` (at most MAX_DETAILS), before anything is written. The
validated bytes are then copied, conditional on their ETag, to a key of the batch's own
(`batches/<client>/<batch_id>.jsonl`) that no client can write, so the writer, and any resumption of
it, reads exactly what was validated.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterator
from typing import Any
from urllib.parse import quote

from pipeline.create import inputs
from pipeline.jobs import errors
from pipeline.platform import strict_json
from pipeline.platform.settings import get_settings
from pipeline.store import inputs as input_store
from pipeline.submit import manifest_lines
from pipeline.submit.batch_request import (
    CUSTOM_ID,
    CUSTOM_ID_RULE,
    MAX_DETAILS,
    BatchItem,
    BatchSubmission,
    ManifestRef,
    inline_batch,
    job_of,
    parse_envelope,
)

EXTENSION = "jsonl"
# The whole file's bound: what one request reads and checks well inside the API's 29 s.
MAX_MANIFEST_BYTES = 64 * 1024 * 1024
COPY_PREFIX = "batches/"
NO_SUCH_MANIFEST = (
    "no such manifest of this client: use the file_path POST /v1/uploads gave you (extension "
    "jsonl), after PUTting the file to its upload_url"
)


def parse_batch(
    client_id: str, raw_body: bytes, idempotency_key: str | None, require_https: bool
) -> BatchSubmission:
    """`POST /v1/batches`'s body, inline or manifest, validated whole before anything is written."""
    envelope = parse_envelope(raw_body, idempotency_key, require_https)
    if envelope.manifest is None:
        return inline_batch(client_id, envelope, raw_body, idempotency_key, require_https)
    manifest = validate(client_id, envelope.manifest, require_https)
    return BatchSubmission(
        client_id=client_id,
        items=(),
        callback_url=envelope.callback_url,
        metadata=envelope.metadata,
        fingerprint=fingerprint(manifest, envelope.callback_url, envelope.metadata),
        idempotency_key=idempotency_key,
        manifest=manifest,
    )


def refuse(msg: str, message: str = "the manifest cannot be used") -> errors.ValidationFailed:
    return errors.ValidationFailed([{"loc": ["body", "manifest"], "msg": msg}], message)


def locate(client_id: str, uri: str) -> tuple[str, str]:
    """The bucket and key of a manifest this client uploaded. Another client's, a missing one and
    a malformed URI are refused alike: nothing tells whether another client's exists."""
    bucket = get_settings().require("input_bucket_name")
    prefix = f"s3://{bucket}/{inputs.client_prefix(client_id)}"
    name = uri[len(prefix) :] if uri.startswith(prefix) else ""
    if len(name) != 32 + 1 + len(EXTENSION) or not name.endswith(f".{EXTENSION}"):
        raise refuse(NO_SUCH_MANIFEST, "no such manifest")
    if not all(char in "0123456789abcdef" for char in name[:32]):
        raise refuse(NO_SUCH_MANIFEST, "no such manifest")
    return bucket, uri[len(f"s3://{bucket}/") :]


def validate(client_id: str, uri: str, require_https: bool) -> ManifestRef:
    """Every line of the client's manifest checked; ValidationFailed naming each bad line."""
    bucket, key = locate(client_id, uri)
    try:
        opened = input_store.open_versioned(bucket, key)
    except input_store.InputUnreadable:
        opened = None
    if opened is None:
        raise refuse(NO_SUCH_MANIFEST, "no such manifest")
    stream, size, etag = opened
    with stream:
        if size == 0:
            empty = _problem(None, None, "empty_manifest", [], "the manifest holds no line")
            raise errors.ValidationFailed([empty], "the manifest is empty")
        if size > MAX_MANIFEST_BYTES:
            too_large = f"the manifest is over {MAX_MANIFEST_BYTES // (1024 * 1024)} MB"
            raise errors.ValidationFailed(
                [_problem(None, None, "manifest_too_large", [], too_large)], "the manifest is too large"
            )
        digest = hashlib.sha256()
        problems: list[dict[str, Any]] = []
        total = estimate = bad_lines = 0
        for number, item_or_problems in _checked(client_id, stream, require_https, digest):
            total = number
            if isinstance(item_or_problems, BatchItem):
                estimate += item_or_problems.estimate
            else:
                # Past the details' bound the rest is still read and counted, not listed.
                bad_lines += 1
                if item_or_problems[0]["code"] == "too_many_lines":
                    problems.insert(0, item_or_problems[0])  # the file's own problem always shows
                    del problems[MAX_DETAILS:]
                else:
                    problems.extend(item_or_problems[: MAX_DETAILS - len(problems)])
    if problems:
        raise _refused(problems, bad_lines)
    return ManifestRef(bucket, key, etag, total, estimate, digest.hexdigest())


def items_of(client_id: str, bucket: str, key: str, require_https: bool) -> Iterator[tuple[int, BatchItem]]:
    """The manifest's jobs in its order (index from 0), read again as a stream. Raises
    ValidationFailed if a line no longer validates (never for the batch's own validated copy)."""
    stream, _ = input_store.open_object(bucket, key)
    with stream:
        for number, item_or_problem in _checked(client_id, stream, require_https, None):
            if not isinstance(item_or_problem, BatchItem):
                raise _refused(item_or_problem, 1)
            yield number - 1, item_or_problem


def copy_key(client_id: str, batch_id: str) -> str:
    return f"{COPY_PREFIX}{quote(client_id, safe='')}/{batch_id}.{EXTENSION}"


def fingerprint(manifest: ManifestRef, callback_url: str | None, metadata: dict[str, Any]) -> str:
    """Same key, same body and same manifest bytes: the same batch."""
    canonical = json.dumps(
        {"manifest": manifest.digest, "callback_url": callback_url, "metadata": metadata},
        sort_keys=True,
        separators=(",", ":"),
    )
    return hashlib.sha256(canonical.encode()).hexdigest()


def _checked(
    client_id: str, stream: Any, require_https: bool, digest: Any
) -> Iterator[tuple[int, BatchItem | list[dict[str, Any]]]]:
    """Each line as its job, or its problems; stops (with one problem) at a line too many."""
    seen: dict[str, int] = {}
    for line in manifest_lines.lines_of(_Hashing(stream, digest)):
        if line.number > manifest_lines.MAX_LINES:
            msg = f"the manifest holds more than {manifest_lines.MAX_LINES} lines"
            yield line.number, [_problem(line.number, None, "too_many_lines", [], msg)]
            return
        yield line.number, _job_of_line(client_id, line, seen, require_https)


def _job_of_line(
    client_id: str, line: manifest_lines.Line, seen: dict[str, int], require_https: bool
) -> BatchItem | list[dict[str, Any]]:
    number = line.number
    if line.data is None:
        msg = f"the line is over {manifest_lines.MAX_LINE_BYTES // 1024} KB"
        return [_problem(number, None, "line_too_long", [], msg)]
    try:
        text = line.data.decode("utf-8")
    except UnicodeDecodeError:
        return [_problem(number, None, "not_utf8", [], "the line is not UTF-8 text")]
    try:
        document = strict_json.loads(text.encode())
    except strict_json.NotJson:
        return [_problem(number, None, "invalid_json", [], "the line is not one JSON value")]
    if not isinstance(document, dict):
        return [_problem(number, None, "invalid_json", [], "the line must be one JSON object (a job)")]
    custom_id = document.get("custom_id")
    shown = custom_id if isinstance(custom_id, str) and CUSTOM_ID.match(custom_id) else None
    problems: list[dict[str, Any]] = []
    if shown is None:
        problems.append(_problem(number, None, "invalid_custom_id", ["custom_id"], CUSTOM_ID_RULE))
    elif shown in seen:
        msg = f"repeats the custom_id of line {seen[shown]}"
        problems.append(_problem(number, shown, "duplicate_custom_id", ["custom_id"], msg))
    else:
        seen[shown] = number
    item, job_problems = job_of(client_id, document, require_https)
    for detail in job_problems:
        loc = list(detail.get("loc") or [])[1:]  # after "body"
        problems.append(_problem(number, shown, "validation_failed", loc, str(detail.get("msg"))))
    if problems or item is None:
        return problems
    return item


def _problem(line: int | None, custom_id: str | None, code: str, loc: list[Any], msg: str) -> dict[str, Any]:
    """One bad line as CONTRACT's `errors` item, its `loc` under the manifest's line for the 422."""
    where = ["body", "manifest"] if line is None else ["body", "manifest", line]
    return {"loc": [*where, *loc], "msg": msg, "line": line, "custom_id": custom_id, "code": code}


def _refused(problems: list[dict[str, Any]], bad_lines: int) -> errors.ValidationFailed:
    plural = "s of the manifest are" if bad_lines != 1 else " of the manifest is"
    return errors.ValidationFailed(problems[:MAX_DETAILS], f"{bad_lines} line{plural} invalid")


class _Hashing:
    """The stream, every byte read also fed to `digest` (None: not hashed)."""

    def __init__(self, stream: Any, digest: Any) -> None:
        self._stream, self._digest = stream, digest

    def read(self, size: int) -> bytes:
        chunk: bytes = self._stream.read(size)
        if self._digest is not None:
            self._digest.update(chunk)
        return chunk
