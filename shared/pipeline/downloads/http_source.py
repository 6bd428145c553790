"""The HTTP side of copying a remote file: the allow-list, the first answer (redirects checked
hop by hop), ranged and whole GETs on one shared pool, and a body read in bounded, counted chunks."""

from __future__ import annotations

import contextlib
import mimetypes
import posixpath
from collections.abc import Iterator
from urllib.parse import urljoin, urlsplit

import certifi
import urllib3
from urllib3.exceptions import HTTPError

from pipeline.downloads.fetch_errors import DownloadFailed, DownloadForbidden, DownloadRefused, OutputTooLarge
from pipeline.platform.settings import get_settings

_MAX_REDIRECTS = 3
_GENERIC_TYPES = {"", "application/octet-stream", "binary/octet-stream"}
EXPIRED_STATUSES = {401, 403, 404, 410}
_READ_BYTES = 1024 * 1024
_REDIRECT_STATUSES = {301, 302, 303, 307, 308}
# Every request asks for the bytes themselves, uncompressed: the sha256 and size are the file's.
_WHOLE = {"Accept-Encoding": "identity"}
# One pool for the warm container: thread-safe, so the parallel ranges share it, and big enough
# that none of their connections is thrown away (Transfer.parallel_ranges is at most 16).
_HTTP = urllib3.PoolManager(ca_certs=certifi.where(), retries=False, maxsize=17)
Answer = urllib3.BaseHTTPResponse


def host_allowed(url: str, allowed_hosts: list[str], require_https: bool = False) -> bool:
    parts = urlsplit(url)
    host = (parts.hostname or "").lower()
    if parts.scheme not in (("https",) if require_https else ("https", "http")) or not host:
        return False
    return any(host == allowed or host.endswith("." + allowed) for allowed in allowed_hosts)


class BodyReader:
    """The response body, read in chunks: counts what passes through and turns a broken or short
    body into DownloadFailed. It does not hash: each copy hashes its parts once, in order
    (ranges arrive out of order)."""

    def __init__(self, response: Answer, declared_length: int | None, max_bytes: int | None = None) -> None:
        self._raw = response
        self._declared = declared_length
        self._max_bytes = max_bytes
        self.size = 0

    def read(self, size: int = -1) -> bytes:
        try:
            # The bytes as sent, never decoded: what is stored, counted and hashed is exactly what
            # the server declared (a gzip body is not inflated into something else, or unbounded).
            chunk: bytes = self._raw.read(size if size and size > 0 else 1024 * 1024, decode_content=False)
        except Exception as exc:  # urllib3 raises several unrelated types for a broken stream
            raise DownloadFailed(
                f"connection failed after {self.size} bytes: {exc.__class__.__name__}"
            ) from exc
        if not chunk and self._declared is not None and self.size != self._declared:
            raise DownloadFailed(f"body ended after {self.size} of {self._declared} declared bytes")
        self.size += len(chunk)
        if self._max_bytes is not None and self.size > self._max_bytes:
            raise OutputTooLarge(f"the output is over the {self._max_bytes} bytes this deployment stores")
        return chunk


def fill(reader: BodyReader, size: int) -> bytearray:
    buffer = bytearray()
    while len(buffer) < size:
        chunk = reader.read(min(size - len(buffer), _READ_BYTES))
        if not chunk:
            break
        buffer += chunk
    return buffer


def read_exactly(response: Answer, length: int) -> bytearray:
    """The whole body, which must be exactly `length` bytes."""
    reader = BodyReader(response, length)
    body = fill(reader, length)
    if len(body) != length or reader.read(1):
        raise DownloadFailed(f"range body was not {length} bytes")
    return body


def validator_of(response: Answer) -> str | None:
    """What If-Range may carry: a strong ETag, else Last-Modified (a weak ETag never matches)."""
    etag = response.headers.get("ETag", "")
    if etag and not etag.startswith("W/"):
        return etag
    return response.headers.get("Last-Modified")


def total_of(content_range: str) -> int | None:
    unit, _, rest = content_range.strip().partition(" ")
    total = rest.rpartition("/")[2]
    return int(total) if unit == "bytes" and total.isdigit() else None


def open_first(
    url: str,
    allowed_hosts: list[str],
    timeout: tuple[float, float],
    first_range: tuple[int, int] | None = None,
) -> tuple[Answer, str]:
    """The first answer (following at most a few redirects, each checked against the allow-list)
    and the URL that gave it."""
    # identity: byte ranges of the file itself, not of some compressed form of it.
    headers = (
        {"Range": f"bytes={first_range[0]}-{first_range[1]}", "Accept-Encoding": "identity"}
        if first_range
        else dict(_WHOLE)
    )
    # Deployed, every hop (redirects too) must be https: a signed URL never crosses in clear text.
    require_https = get_settings().download_require_https
    for _ in range(_MAX_REDIRECTS + 1):
        if not host_allowed(url, allowed_hosts, require_https):
            raise DownloadForbidden(
                f"refusing to fetch from a host or scheme that is not allowed: "
                f"{urlsplit(url).scheme}://{urlsplit(url).hostname}"
            )
        try:
            response = get(url, headers, timeout)
        except (HTTPError, OSError) as exc:
            raise DownloadFailed(f"could not fetch output: {exc.__class__.__name__}") from exc
        if response.status in _REDIRECT_STATUSES and response.headers.get("Location"):
            url = urljoin(url, response.headers["Location"])
            response.close()
            continue
        if response.status in EXPIRED_STATUSES:
            response.close()
            raise DownloadRefused(f"download URL answered {response.status}")
        if response.status == 416 and headers:
            # An empty file has no first byte to range over: ask for the whole (empty) body.
            response.close()
            headers = dict(_WHOLE)
            continue
        if response.status == 206 and encoded(response):
            # A compressed range cannot be stitched together: fetch it as one body instead.
            response.close()
            headers = dict(_WHOLE)
            continue
        if response.status not in (200, 206) or (response.status == 206 and "Range" not in headers):
            response.close()
            raise DownloadFailed(f"download URL answered {response.status}")
        return response, url
    raise DownloadFailed("too many redirects")


def get(url: str, headers: dict[str, str], timeout: tuple[float, float]) -> Answer:
    """One GET whose body is read later, as a stream; redirects are followed (and checked) by us."""
    return _HTTP.request(
        "GET",
        url,
        headers=headers,
        preload_content=False,
        redirect=False,
        retries=False,
        timeout=urllib3.Timeout(connect=timeout[0], read=timeout[1]),
    )


@contextlib.contextmanager
def closing(response: Answer) -> Iterator[Answer]:
    """A body read to its end gives its connection back to the pool; one left unread (an error,
    a refused range) is closed, so the next request never reads the rest of it."""
    try:
        yield response
    finally:
        if response.closed:  # read to its end
            response.release_conn()
        else:
            response.close()


def check_size(size_bytes: int) -> None:
    limit = get_settings().download_max_bytes
    if size_bytes > limit:
        raise OutputTooLarge(f"the output is {size_bytes} bytes, over the {limit} this deployment stores")


def chunked(response: Answer) -> bool:
    # Chunked framing marks its own end: urllib3 raises on a body cut before the last chunk.
    return "chunked" in response.headers.get("Transfer-Encoding", "").lower()


def encoded(response: Answer) -> bool:
    return response.headers.get("Content-Encoding", "identity").strip().lower() not in ("", "identity")


def extension_of(url: str, content_type: str) -> str:
    extension = posixpath.splitext(urlsplit(url).path)[1].lstrip(".").lower()
    if extension and extension.isalnum() and len(extension) <= 5:
        return extension
    guessed = mimetypes.guess_extension(content_type.split(";")[0].strip()) or ""
    return guessed.lstrip(".")


def content_type_of(header: str, extension: str) -> str:
    declared = header.split(";")[0].strip().lower()
    if declared not in _GENERIC_TYPES:
        return declared
    return mimetypes.guess_type(f"file.{extension}")[0] or "application/octet-stream"
