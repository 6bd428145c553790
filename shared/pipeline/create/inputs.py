"""Inputs from S3: `s3://` values in a tool's file fields (the uploads route: submit/uploads.py).

Magic Hour can only fetch a URL, so an `s3://bucket/key` input is checked at submit (the object
exists and this client may use it) and turned into a presigned GET right before the create. The
job, its fingerprint and everything a client sees keep the `s3://` value: the presigned URL is
made fresh for each create and never stored.

Who may use what: an upload (input bucket, `uploads/<client>/...`) only by the client that made
it; any object of a bucket the deployment lists (`InputBucketNames`) by every client; nothing else.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from typing import Any, cast
from urllib.parse import quote

from botocore.exceptions import BotoCoreError, ClientError

from pipeline.magic_hour.catalogue import InputProblem
from pipeline.magic_hour.client import MagicHourClient
from pipeline.magic_hour.errors import MagicHourUnavailable
from pipeline.models.job import Kind
from pipeline.platform.settings import get_settings
from pipeline.store import inputs as input_store

UPLOAD_PREFIX = "uploads/"

# Extensions Magic Hour accepts for an input file (its upload-urls API and file guide), by the kind
# of field that takes them, with the media type a fetcher is told. `gif` (and webp/webm as
# animations) is what the face-swap video field takes besides videos.
EXTENSIONS: dict[str, tuple[str, ...]] = {
    "video": ("mp4", "m4v", "mov", "webm", "gif"),
    "audio": ("mp3", "wav", "aac", "flac", "webm", "weba", "m4a", "opus", "ogg", "oga", "aiff", "amr"),
    "image": ("png", "jpg", "jpeg", "jfif", "heic", "heif", "webp", "avif", "jp2", "tiff", "tif", "bmp"),
}
MEDIA_TYPES: dict[str, str] = {
    "mp4": "video/mp4",
    "m4v": "video/x-m4v",
    "mov": "video/quicktime",
    "webm": "video/webm",
    "gif": "image/gif",
    "mp3": "audio/mpeg",
    "wav": "audio/wav",
    "aac": "audio/aac",
    "flac": "audio/flac",
    "weba": "audio/webm",
    "m4a": "audio/mp4",
    "opus": "audio/opus",
    "ogg": "audio/ogg",
    "oga": "audio/ogg",
    "aiff": "audio/aiff",
    "amr": "audio/amr",
    "png": "image/png",
    "jpg": "image/jpeg",
    "jpeg": "image/jpeg",
    "jfif": "image/jpeg",
    "heic": "image/heic",
    "heif": "image/heif",
    "webp": "image/webp",
    "avif": "image/avif",
    "jp2": "image/jp2",
    "tiff": "image/tiff",
    "tif": "image/tiff",
    "bmp": "image/bmp",
}
ACCEPTED_EXTENSIONS: tuple[str, ...] = tuple(
    sorted({extension for extensions in EXTENSIONS.values() for extension in extensions})
)

_BUCKET_NAME = re.compile(r"^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$")
_UPLOAD_NAME = re.compile(r"^[0-9a-f]{32}\.[a-z0-9]+$")
_MAX_KEY_BYTES = 1024


def client_prefix(client_id: str) -> str:
    # Percent-encoding is injective (`/` and `%` are encoded too), so no client id can name a
    # prefix that is, or contains, another client's.
    return f"{UPLOAD_PREFIX}{quote(client_id, safe='')}/"


# -- s3:// inputs --------------------------------------------------------------------------------


def is_file_field(key: str) -> bool:
    """Fields that take a file: `*_file_path`, lists of them (`image_file_paths`), and the face
    mappings' `new_face`, which Magic Hour documents as a file path too."""
    return key.endswith(("_file_path", "_file_paths")) or key == "new_face"


def s3_values(
    node: Any, loc: tuple[str | int, ...] = (), file_field: bool = False
) -> Iterator[tuple[tuple[str | int, ...], str]]:
    """Every `s3://` value of a file field, at any depth, with where it is."""
    if isinstance(node, dict):
        for key, value in node.items():
            yield from s3_values(value, (*loc, key), is_file_field(str(key)))
    elif isinstance(node, list):
        for index, item in enumerate(node):
            yield from s3_values(item, (*loc, index), file_field)
    elif file_field and isinstance(node, str) and _is_s3(node):
        yield loc, node


def check_s3_inputs(client_id: str, tool_input: dict[str, Any]) -> list[InputProblem]:
    """Why each `s3://` input cannot be used by this client (empty when all can).

    Runs after the schema check and before anything is written, so a refused input leaves nothing
    behind. S3 failures other than "missing" or "denied" are raised: they are ours, not the input's.
    """
    settings = get_settings()
    verdicts: dict[str, str | None] = {}
    problems = []
    for loc, value in s3_values(tool_input):
        if value not in verdicts:
            verdicts[value] = _problem_with(
                client_id,
                value,
                settings.require("input_bucket_name"),
                settings.input_bucket_names,
                settings.max_upload_bytes,
            )
        problem = verdicts[value]
        if problem is not None:
            problems.append(InputProblem(("body", "input", *loc), problem))
    return problems


def for_magic_hour(tool_input: dict[str, Any], magic_hour: MagicHourClient | None = None) -> dict[str, Any]:
    """A copy of the input with every `s3://` file value replaced by something Magic Hour can fetch.

    That is a presigned GET (signing is local: no request to S3, and a new URL per create costs
    nothing), or, for objects of at least `magic_hour_upload_min_bytes` when that is set, a
    `file_path` in Magic Hour's own storage the object was just copied to. Idempotency never sees
    either, only the client's `s3://` values. Any failure here is raised as MagicHourUnavailable:
    nothing was created at Magic Hour yet, so the create may be tried again.
    """
    settings = get_settings()
    threshold = settings.magic_hour_upload_min_bytes if magic_hour is not None else 0
    handed: dict[str, str] = {}

    def fetchable(uri: str, field: str) -> str:
        if uri not in handed:
            try:
                handed[uri] = _hand_over(uri, field, threshold, magic_hour, settings.input_url_ttl_seconds)
            except (BotoCoreError, ClientError, OSError, input_store.InputUnreadable) as exc:
                raise MagicHourUnavailable(
                    f"the s3:// input in {field} could not be read ({exc.__class__.__name__})"
                ) from exc
        return handed[uri]

    rewritten = _rewrite(tool_input, None, fetchable)
    assert isinstance(rewritten, dict)  # narrows the type  # nosec B101
    return rewritten


def _rewrite(node: Any, field: str | None, convert: Callable[[str, str], str]) -> Any:
    """`field` is the name of the file field `node` is (or is an item of), else None."""
    if isinstance(node, dict):
        return {
            key: _rewrite(value, str(key) if is_file_field(str(key)) else None, convert)
            for key, value in node.items()
        }
    if isinstance(node, list):
        return [_rewrite(item, field, convert) for item in node]
    if field is not None and isinstance(node, str) and _is_s3(node):
        return convert(node, field)
    return node


def _hand_over(
    uri: str, field: str, threshold: int, magic_hour: MagicHourClient | None, ttl_seconds: int
) -> str:
    bucket, key = _split(uri) or ("", "")
    extension = key.rsplit(".", 1)[-1].lower() if "." in key else ""
    asset_type = _asset_type(field, extension)
    if magic_hour is not None and threshold > 0 and asset_type is not None:
        found = input_store.head(bucket, key)
        if found is not None and found.size_bytes >= threshold:
            target = magic_hour.upload_url(asset_type, extension)
            body, size = input_store.open_object(bucket, key)
            try:
                magic_hour.put_file(target.upload_url, body, size)
            finally:
                body.close()
            return target.file_path
    return input_store.presigned_get(bucket, key, ttl_seconds, MEDIA_TYPES.get(extension))


def _asset_type(field: str, extension: str) -> Kind | None:
    """What Magic Hour's upload API calls the file: the kind named in the field, else the only
    kind the extension belongs to; None when Magic Hour would not take the extension at all."""
    kinds = [kind for kind, extensions in EXTENSIONS.items() if extension in extensions]
    if not kinds:
        return None
    for word in field.split("_"):
        if word in kinds:
            return cast(Kind, word)
    return cast(Kind, kinds[0])


def _is_s3(value: str) -> bool:
    return value[:5].lower() == "s3://"


def _split(uri: str) -> tuple[str, str] | None:
    bucket, _, key = uri[5:].partition("/")
    try:
        size = len(key.encode("utf-8"))
    except UnicodeEncodeError:  # a lone surrogate: no S3 key, and boto3 could not even send it
        return None
    if not _BUCKET_NAME.match(bucket) or not key or size > _MAX_KEY_BYTES:
        return None
    return bucket, key


def _problem_with(
    client_id: str, uri: str, input_bucket: str, allowed: list[str], max_upload_bytes: int
) -> str | None:
    parts = _split(uri)
    if parts is None:
        return "must be s3://<bucket>/<key> with a valid bucket name and a key"
    bucket, key = parts
    if any(segment in (".", "..") for segment in key.split("/")):
        return "the key must not contain '.' or '..' segments"
    if bucket == input_bucket:
        prefix = client_prefix(client_id)
        if not key.startswith(prefix) or not _UPLOAD_NAME.match(key[len(prefix) :]):
            return "not an upload of this client: use the file_path POST /v1/uploads gave you"
        missing = "no such upload: PUT the file to its upload_url first (uploads expire)"
    elif bucket in allowed:
        missing = "no such object in this bucket"
    else:
        return f"bucket '{bucket}' is not one this deployment reads inputs from"
    try:
        found = input_store.head(bucket, key)
    except input_store.InputUnreadable:
        return "no such object, or this deployment may not read it"
    if found is None:
        return missing
    if found.size_bytes == 0:
        return "the object is empty"
    if bucket == input_bucket and found.size_bytes > max_upload_bytes:
        # An upload minted without size_bytes could be PUT at any size up to S3's 5 GB: bounded here,
        # where it is used (the object itself expires with the other uploads).
        return f"the upload is {found.size_bytes} bytes, over this deployment's limit of {max_upload_bytes}"
    return None
