"""The output bucket: where each output lands, and how callers get to it."""

from __future__ import annotations

from dataclasses import dataclass
from typing import IO, Any

from boto3.s3.transfer import TransferConfig
from botocore.exceptions import ClientError

from pipeline.aws import s3_client
from pipeline.settings import get_settings

# One part in flight per thread, two threads: peak memory is about chunk x (2 + queue), whatever
# the file size (measured in `make bench`). The classic transfer manager is used on purpose: the
# CRT one ignores these bounds.
_MULTIPART_THRESHOLD = 8 * 1024 * 1024


@dataclass(frozen=True)
class ObjectFacts:
    size_bytes: int
    sha256: str | None
    content_type: str | None


def output_key(job_id: str, project_id: str, index: int, extension: str) -> str:
    """Deterministic per job and output: a retry overwrites the same object, never adds a second."""
    suffix = f".{extension}" if extension else ""
    return f"jobs/{job_id}/{project_id}/output-{index}{suffix}"


def s3_uri(key: str) -> str:
    return f"s3://{get_settings().output_bucket_name}/{key}"


def head(key: str) -> ObjectFacts | None:
    try:
        answer = s3_client().head_object(Bucket=get_settings().output_bucket_name, Key=key)
    except ClientError as error:
        if error.response.get("Error", {}).get("Code") in ("404", "NoSuchKey", "NotFound"):
            return None
        raise
    return ObjectFacts(
        size_bytes=int(answer["ContentLength"]),
        sha256=answer.get("Metadata", {}).get("sha256"),
        content_type=answer.get("ContentType"),
    )


def upload_stream(stream: IO[bytes], key: str, content_type: str, metadata: dict[str, str]) -> None:
    chunk = get_settings().download_chunk_bytes
    config = TransferConfig(
        multipart_threshold=_MULTIPART_THRESHOLD,
        multipart_chunksize=chunk,
        max_concurrency=2,
        max_io_queue=2,
        use_threads=True,
        preferred_transfer_client="classic",
    )
    s3_client().upload_fileobj(
        stream,
        get_settings().output_bucket_name,
        key,
        ExtraArgs={"ContentType": content_type, "Metadata": metadata},
        Config=config,
    )


def set_metadata(key: str, content_type: str, metadata: dict[str, str]) -> None:
    """Replace an object's metadata in place (server-side copy; no bytes pass through us).

    The sha256 is only known once the last byte is streamed, after S3 already fixed the metadata
    of the upload, so it is added by this copy.
    """
    bucket = get_settings().output_bucket_name
    extra: dict[str, Any] = {
        "ContentType": content_type,
        "Metadata": metadata,
        "MetadataDirective": "REPLACE",
    }
    s3_client().copy({"Bucket": bucket, "Key": key}, bucket, key, ExtraArgs=extra)


def presigned_get(key: str, expires_in: int) -> str:
    return s3_client().generate_presigned_url(
        "get_object",
        Params={"Bucket": get_settings().output_bucket_name, "Key": key},
        ExpiresIn=expires_in,
    )
