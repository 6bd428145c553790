"""Streaming one remote file into S3: bounded memory, counted, hashed, never stored short."""

from __future__ import annotations

import hashlib
import io
import mimetypes
import posixpath
from collections.abc import Callable
from dataclasses import dataclass
from typing import IO, cast
from urllib.parse import urljoin, urlsplit

import requests

from pipeline.dal import outputs
from pipeline.settings import get_settings

_MAX_REDIRECTS = 3
_GENERIC_TYPES = {"", "application/octet-stream", "binary/octet-stream"}
_EXPIRED_STATUSES = {401, 403, 404, 410}


class DownloadFailed(Exception):
    """Worth retrying later: the network or the server misbehaved."""


class DownloadRefused(DownloadFailed):
    """The URL was refused as expired or unknown: a fresh URL may work."""


class DownloadForbidden(Exception):
    """Never worth retrying (for example a host we must not fetch from)."""


@dataclass(frozen=True)
class FetchedObject:
    key: str
    size_bytes: int
    sha256: str
    content_type: str


def host_allowed(url: str, allowed_hosts: list[str], require_https: bool = False) -> bool:
    parts = urlsplit(url)
    host = (parts.hostname or "").lower()
    if parts.scheme not in (("https",) if require_https else ("https", "http")) or not host:
        return False
    return any(host == allowed or host.endswith("." + allowed) for allowed in allowed_hosts)


class _HashingReader(io.RawIOBase):
    """A file-like view of the response body that hashes and counts what passes through."""

    def __init__(self, response: requests.Response, declared_length: int | None) -> None:
        self._raw = response.raw
        self._declared = declared_length
        self.sha256 = hashlib.sha256()
        self.size = 0

    def readable(self) -> bool:
        return True

    def read(self, size: int = -1) -> bytes:
        try:
            chunk: bytes = self._raw.read(size if size and size > 0 else 1024 * 1024, decode_content=True)
        except Exception as exc:  # urllib3 raises several unrelated types for a broken stream
            raise DownloadFailed(
                f"connection failed after {self.size} bytes: {exc.__class__.__name__}"
            ) from exc
        if not chunk and self._declared is not None and self.size != self._declared:
            raise DownloadFailed(f"body ended after {self.size} of {self._declared} declared bytes")
        self.size += len(chunk)
        self.sha256.update(chunk)
        return chunk

    def readinto(self, buffer: bytearray | memoryview) -> int:  # type: ignore[override]
        data = self.read(len(buffer))
        buffer[: len(data)] = data
        return len(data)


def fetch_into_s3(
    url: str,
    key_for: Callable[[str], str],
    metadata: dict[str, str],
    allowed_hosts: list[str],
    timeout: tuple[float, float],
) -> FetchedObject:
    response = _open(url, allowed_hosts, timeout)
    with response:
        declared = response.headers.get("Content-Length")
        declared_length = int(declared) if declared and declared.isdigit() else None
        extension = extension_of(url, response.headers.get("Content-Type", ""))
        content_type = _content_type(response.headers.get("Content-Type", ""), extension)
        key = key_for(extension)
        reader = _HashingReader(response, declared_length)
        try:
            outputs.upload_stream(cast("IO[bytes]", reader), key, content_type, metadata)
        except DownloadFailed:
            raise
        except Exception as exc:
            cause = exc.__context__ if isinstance(exc.__context__, DownloadFailed) else None
            if cause is not None:
                raise cause from exc
            raise DownloadFailed(f"upload to S3 failed: {exc.__class__.__name__}: {exc}") from exc
        if declared_length is not None and reader.size != declared_length:
            raise DownloadFailed(f"stored {reader.size} bytes but the server declared {declared_length}")
    return FetchedObject(key, reader.size, reader.sha256.hexdigest(), content_type)


def _open(url: str, allowed_hosts: list[str], timeout: tuple[float, float]) -> requests.Response:
    # Deployed, every hop (redirects too) must be https: a signed URL never crosses in clear text.
    require_https = get_settings().download_require_https
    for _ in range(_MAX_REDIRECTS + 1):
        if not host_allowed(url, allowed_hosts, require_https):
            raise DownloadForbidden(
                f"refusing to fetch from a host or scheme that is not allowed: "
                f"{urlsplit(url).scheme}://{urlsplit(url).hostname}"
            )
        try:
            response = requests.get(url, stream=True, timeout=timeout, allow_redirects=False)
        except requests.RequestException as exc:
            raise DownloadFailed(f"could not fetch output: {exc.__class__.__name__}") from exc
        if response.is_redirect and response.headers.get("Location"):
            url = urljoin(url, response.headers["Location"])
            response.close()
            continue
        if response.status_code in _EXPIRED_STATUSES:
            response.close()
            raise DownloadRefused(f"download URL answered {response.status_code}")
        if response.status_code != 200:
            response.close()
            raise DownloadFailed(f"download URL answered {response.status_code}")
        return response
    raise DownloadFailed("too many redirects")


def extension_of(url: str, content_type: str) -> str:
    extension = posixpath.splitext(urlsplit(url).path)[1].lstrip(".").lower()
    if extension and extension.isalnum() and len(extension) <= 5:
        return extension
    guessed = mimetypes.guess_extension(content_type.split(";")[0].strip()) or ""
    return guessed.lstrip(".")


def _content_type(header: str, extension: str) -> str:
    declared = header.split(";")[0].strip().lower()
    if declared not in _GENERIC_TYPES:
        return declared
    return mimetypes.guess_type(f"file.{extension}")[0] or "application/octet-stream"
