"""`POST /v1/uploads`: a place in the input bucket for one input file of a client, and a
presigned PUT for its bytes. Its `file_path` is then an `s3://` input of a job, which
create/inputs.py checks and hands to Magic Hour; only the client that made it may use it."""

from __future__ import annotations

import uuid
from datetime import timedelta

from pydantic import ValidationError

from pipeline.create import inputs
from pipeline.jobs import budgets, errors
from pipeline.models.api import CreateUploadRequest, UploadResource
from pipeline.platform import strict_json
from pipeline.platform.settings import get_settings
from pipeline.platform.timeutil import iso, utc_now
from pipeline.store import inputs as input_store
from pipeline.store import upload_counts

MAX_UPLOAD_REQUEST_BYTES = 4096
MANIFEST_EXTENSION = "jsonl"


def parse_upload_request(raw_body: bytes) -> CreateUploadRequest:
    if len(raw_body) > MAX_UPLOAD_REQUEST_BYTES:
        raise errors.BodyTooLarge(f"request body is over {MAX_UPLOAD_REQUEST_BYTES} bytes")
    try:
        document = strict_json.loads(raw_body)
    except strict_json.NotJson as exc:
        raise errors.MalformedBody("request body is not valid JSON") from exc
    if not isinstance(document, dict):
        raise errors.MalformedBody("request body must be a JSON object")
    try:
        request = CreateUploadRequest.model_validate(document)
    except ValidationError as exc:
        raise errors.ValidationFailed(
            [{"loc": ["body", *error["loc"]], "msg": error["msg"]} for error in exc.errors()],
            "request body breaks the upload schema",
        ) from exc
    extension = request.extension.lower()
    # Besides Magic Hour's input files: a batch's JSON Lines manifest (POST /v1/batches).
    if extension not in inputs.MEDIA_TYPES and extension != MANIFEST_EXTENSION:
        raise errors.ValidationFailed(
            [
                {
                    "loc": ["body", "extension"],
                    "msg": "Magic Hour accepts no input file with this extension; use one of "
                    + ", ".join(inputs.ACCEPTED_EXTENSIONS)
                    + f" (without the dot), or {MANIFEST_EXTENSION} for a batch's manifest",
                }
            ],
            f"extension '{request.extension[:20]}' is not one Magic Hour accepts",
        )
    limit = get_settings().max_upload_bytes
    if request.size_bytes is not None and request.size_bytes > limit:
        raise errors.ValidationFailed(
            [
                {
                    "loc": ["body", "size_bytes"],
                    "msg": f"must be at most {limit} bytes, this deployment's upload limit",
                }
            ],
            "the file is larger than this deployment takes",
        )
    return request.model_copy(update={"extension": extension})


def create_upload(client_id: str, request: CreateUploadRequest) -> UploadResource:
    """A place for one input file of this client, and a URL to PUT its bytes to, counted against
    the client's daily upload quota (UploadQuotaExceeded when it is used up)."""
    settings = get_settings()
    key = f"{inputs.client_prefix(client_id)}{uuid.uuid4().hex}.{request.extension}"
    bucket = settings.require("input_bucket_name")
    expires_in = settings.upload_url_ttl_seconds
    expires_at = utc_now() + timedelta(seconds=expires_in)
    # Signed first (local, no request): once the upload is counted, nothing is left to fail.
    url = input_store.presigned_put(bucket, key, expires_in, request.content_type, request.size_bytes)
    day = budgets.utc_today()
    if not upload_counts.count_one(client_id, day, settings.daily_upload_quota):
        raise errors.UploadQuotaExceeded(
            settings.daily_upload_quota, day, budgets.seconds_until_next_utc_day()
        )
    headers = {"Content-Type": request.content_type} if request.content_type else {}
    if request.size_bytes is not None:
        headers["Content-Length"] = str(request.size_bytes)
    return UploadResource(
        file_path=f"s3://{bucket}/{key}",
        upload_url=url,
        expires_at=iso(expires_at),
        upload_headers=headers,
    )
