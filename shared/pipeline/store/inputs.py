"""Input objects in S3: the input bucket's uploads and objects in the buckets a deployment allows.

Every URL here is signed with the function's own credentials, so what it grants is what the
function's role may do (template.yaml grants GetObject on the input bucket and the allowed
buckets, PutObject on the input bucket's uploads).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import IO

from botocore.exceptions import ClientError

from pipeline.platform.aws import s3_client

_MISSING = ("404", "NoSuchKey", "NotFound", "NoSuchBucket")
_DENIED = ("403", "AccessDenied", "Forbidden")


@dataclass(frozen=True)
class InputObject:
    size_bytes: int
    content_type: str | None


class InputUnreadable(Exception):
    """S3 refused to tell us about the object (403): without s3:ListBucket a missing object looks
    the same, so the caller cannot say which."""


def head(bucket: str, key: str) -> InputObject | None:
    """The object's facts, None when it does not exist; other S3 failures are raised as they are."""
    try:
        answer = s3_client().head_object(Bucket=bucket, Key=key)
    except ClientError as error:
        code = str(error.response.get("Error", {}).get("Code", ""))
        if code in _MISSING:
            return None
        if code in _DENIED:
            raise InputUnreadable(bucket) from error
        raise
    return InputObject(size_bytes=int(answer["ContentLength"]), content_type=answer.get("ContentType"))


def presigned_put(
    bucket: str, key: str, expires_in: int, content_type: str | None, content_length: int | None = None
) -> str:
    params: dict[str, str | int] = {"Bucket": bucket, "Key": key}
    if content_type is not None:
        # Signed in: the PUT must then send exactly this Content-Type.
        params["ContentType"] = content_type
    if content_length is not None:
        # Signed in too (X-Amz-SignedHeaders names content-length): S3 refuses a PUT of any other size.
        params["ContentLength"] = content_length
    return s3_client().generate_presigned_url("put_object", Params=params, ExpiresIn=expires_in)


def presigned_get(bucket: str, key: str, expires_in: int, content_type: str | None) -> str:
    params: dict[str, str] = {"Bucket": bucket, "Key": key}
    if content_type is not None:
        # Whatever the uploader sent as Content-Type, the fetcher sees the type of the extension.
        params["ResponseContentType"] = content_type
    return s3_client().generate_presigned_url("get_object", Params=params, ExpiresIn=expires_in)


def open_object(bucket: str, key: str) -> tuple[IO[bytes], int]:
    """The object's body as a stream (read it to the end or close it) and its size."""
    answer = s3_client().get_object(Bucket=bucket, Key=key)
    body: IO[bytes] = answer["Body"]  # type: ignore[assignment]  # StreamingBody reads like a file
    return body, int(answer["ContentLength"])


def open_versioned(bucket: str, key: str) -> tuple[IO[bytes], int, str] | None:
    """As open_object, with the ETag of exactly the bytes streamed; None when it does not exist."""
    try:
        answer = s3_client().get_object(Bucket=bucket, Key=key)
    except ClientError as error:
        code = str(error.response.get("Error", {}).get("Code", ""))
        if code in _MISSING:
            return None
        if code in _DENIED:
            raise InputUnreadable(bucket) from error
        raise
    body: IO[bytes] = answer["Body"]  # type: ignore[assignment]  # StreamingBody reads like a file
    return body, int(answer["ContentLength"]), str(answer["ETag"])


class ObjectChanged(Exception):
    """The source object is no longer the version read (its ETag moved)."""


def copy_if_unchanged(bucket: str, key: str, etag: str, to_key: str) -> None:
    """Copy `key` to `to_key` in the bucket, only if `key` still has `etag` (ObjectChanged if not)."""
    try:
        s3_client().copy_object(
            Bucket=bucket, Key=to_key, CopySource={"Bucket": bucket, "Key": key}, CopySourceIfMatch=etag
        )
    except ClientError as error:
        code = str(error.response.get("Error", {}).get("Code", ""))
        if code in ("PreconditionFailed", "412", *_MISSING):
            raise ObjectChanged(key) from error
        raise
