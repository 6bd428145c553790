"""The output bucket: where each output lands, and how callers get to it."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Final, cast
from urllib.parse import urlencode

from botocore.exceptions import ClientError

from pipeline.platform.aws import s3_client
from pipeline.platform.settings import get_settings

if TYPE_CHECKING:
    from mypy_boto3_s3.type_defs import CompletedPartTypeDef

# Each output is written exactly once: the sha256 is only known after the last byte, and S3 fixes
# an object's metadata when it is written, so the sha256 lives in the job record and in this object
# tag (set in the same PutObject for a single-part output, by one PutObjectTagging after a
# multipart upload). No server-side copy: that rewrote every byte a second time (a third of the
# downloader's time at 1 GB, `make bench`).
SHA256_TAG = "sha256"
# Every part carries its CRC32, which S3 checks on arrival and combines into the object's
# checksum. Declared on the upload, as boto3's own transfer manager does: an upload created without
# one makes S3 (and moto) compute a full-object CRC64NVME over every byte at completion instead
# (moto: 7 s of a 10 s copy at 1 GB, `make bench`).
_CHECKSUM_ALGORITHM: Final = "CRC32"


@dataclass(frozen=True)
class UploadedPart:
    number: int
    etag: str
    crc32: str


@dataclass(frozen=True)
class ObjectFacts:
    size_bytes: int
    sha256: str | None
    content_type: str | None


def _no_copy(body: bytes | bytearray) -> bytes:
    # botocore sends any bytes-like body (its type stubs say bytes); bytes(body) would hold every
    # part twice in memory.
    return cast("bytes", body)


def _bucket() -> str:
    return get_settings().require("output_bucket_name")


def output_key(job_id: str, project_id: str, index: int, extension: str) -> str:
    """Deterministic per job and output: a retry overwrites the same object, never adds a second."""
    suffix = f".{extension}" if extension else ""
    return f"jobs/{job_id}/{project_id}/output-{index}{suffix}"


def s3_uri(key: str) -> str:
    return f"s3://{_bucket()}/{key}"


def head(key: str) -> ObjectFacts | None:
    """The object's size and type, and its sha256 tag (None until the upload was verified)."""
    bucket = _bucket()
    try:
        answer = s3_client().head_object(Bucket=bucket, Key=key)
        tags = s3_client().get_object_tagging(Bucket=bucket, Key=key)["TagSet"]
    except ClientError as error:
        if error.response.get("Error", {}).get("Code") in ("404", "NoSuchKey", "NotFound"):
            return None
        raise
    return ObjectFacts(
        size_bytes=int(answer["ContentLength"]),
        sha256=next((tag["Value"] for tag in tags if tag["Key"] == SHA256_TAG), None),
        content_type=answer.get("ContentType"),
    )


def put_whole(
    key: str, body: bytes | bytearray, content_type: str, metadata: dict[str, str], sha256: str
) -> None:
    """A body that fits in one part: one request, already tagged with its verified sha256."""
    s3_client().put_object(
        Bucket=_bucket(),
        Key=key,
        Body=_no_copy(body),
        ContentType=content_type,
        Metadata=metadata,
        Tagging=urlencode({SHA256_TAG: sha256}),
        ChecksumAlgorithm=_CHECKSUM_ALGORITHM,
    )


def start_multipart(key: str, content_type: str, metadata: dict[str, str]) -> str:
    answer = s3_client().create_multipart_upload(
        Bucket=_bucket(),
        Key=key,
        ContentType=content_type,
        Metadata=metadata,
        ChecksumAlgorithm=_CHECKSUM_ALGORITHM,
    )
    return str(answer["UploadId"])


def upload_part(key: str, upload_id: str, number: int, body: bytes | bytearray) -> UploadedPart:
    """One part (thread-safe: boto3 clients are), checked by S3 against its CRC32."""
    answer = s3_client().upload_part(
        Bucket=_bucket(),
        Key=key,
        UploadId=upload_id,
        PartNumber=number,
        Body=_no_copy(body),
        ChecksumAlgorithm=_CHECKSUM_ALGORITHM,
    )
    return UploadedPart(number, str(answer["ETag"]), str(answer.get("ChecksumCRC32", "")))


def complete_multipart(key: str, upload_id: str, parts: list[UploadedPart]) -> None:
    s3_client().complete_multipart_upload(
        Bucket=_bucket(),
        Key=key,
        UploadId=upload_id,
        MultipartUpload={"Parts": [_completed(part) for part in parts]},
    )


def _completed(part: UploadedPart) -> CompletedPartTypeDef:
    completed: CompletedPartTypeDef = {"PartNumber": part.number, "ETag": part.etag}
    if part.crc32:  # S3 answers every part of an upload that declared CRC32 with its value
        completed["ChecksumCRC32"] = part.crc32
    return completed


def abort_multipart(key: str, upload_id: str) -> None:
    s3_client().abort_multipart_upload(Bucket=_bucket(), Key=key, UploadId=upload_id)


def tag_sha256(key: str, sha256: str) -> None:
    """Mark a completed multipart object as verified (tags can be set after the write; metadata
    cannot)."""
    s3_client().put_object_tagging(
        Bucket=_bucket(),
        Key=key,
        Tagging={"TagSet": [{"Key": SHA256_TAG, "Value": sha256}]},
    )


def presigned_get(key: str, expires_in: int) -> str:
    return s3_client().generate_presigned_url(
        "get_object",
        Params={"Bucket": _bucket(), "Key": key},
        ExpiresIn=expires_in,
    )
