"""The output bucket: where each output lands, and how callers get to it."""

from __future__ import annotations

from dataclasses import dataclass
from typing import IO, Any

from boto3.s3.transfer import TransferConfig
from botocore.exceptions import ClientError

from pipeline.aws import s3_client
from pipeline.settings import get_settings

# Memory is bounded by the parts held at once, not by the file size: at most
# `_PARTS_IN_MEMORY` chunks are read ahead of the two upload threads (s3transfer's default is 10,
# which measured ~112 MiB above baseline for 8 MiB parts; see `make bench`). The classic transfer
# manager is used on purpose: the CRT one ignores these bounds.
_PARTS_IN_MEMORY = 2
# CopyObject copies up to 5 GiB in one request; larger objects need a multipart copy.
_SINGLE_COPY_LIMIT = 5 * 1024**3
_COPY_PART_BYTES = 1024**3
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
        use_threads=True,
        preferred_transfer_client="classic",
    )
    # Not a TransferConfig argument, but an s3transfer setting it passes on.
    config.max_in_memory_upload_chunks = _PARTS_IN_MEMORY
    s3_client().upload_fileobj(
        stream,
        get_settings().output_bucket_name,
        key,
        ExtraArgs={"ContentType": content_type, "Metadata": metadata},
        Config=config,
    )


def set_metadata(key: str, size_bytes: int, content_type: str, metadata: dict[str, str]) -> None:
    """Replace an object's metadata in place (server-side copy; no bytes pass through us).

    The sha256 is only known once the last byte is streamed, after S3 already fixed the metadata
    of the upload, so it is added by this copy: one request up to 5 GiB, 1 GiB parts beyond.
    """
    bucket = get_settings().output_bucket_name
    if size_bytes <= _SINGLE_COPY_LIMIT:
        s3_client().copy_object(
            Bucket=bucket,
            Key=key,
            CopySource={"Bucket": bucket, "Key": key},
            ContentType=content_type,
            Metadata=metadata,
            MetadataDirective="REPLACE",
            # A new full-object checksum for the copy: the upload's was per part (multipart), and
            # carrying it over makes checksum-validating readers reject the object.
            ChecksumAlgorithm="CRC32",
        )
        return
    extra: dict[str, Any] = {
        "ContentType": content_type,
        "Metadata": metadata,
        "MetadataDirective": "REPLACE",
    }
    config = TransferConfig(multipart_threshold=_COPY_PART_BYTES, multipart_chunksize=_COPY_PART_BYTES)
    s3_client().copy({"Bucket": bucket, "Key": key}, bucket, key, ExtraArgs=extra, Config=config)


def presigned_get(key: str, expires_in: int) -> str:
    return s3_client().generate_presigned_url(
        "get_object",
        Params={"Bucket": get_settings().output_bucket_name, "Key": key},
        ExpiresIn=expires_in,
    )
