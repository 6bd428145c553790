"""Copying one remote file into S3: bounded memory, counted, hashed, written once, never stored short."""

from __future__ import annotations

import contextlib
import hashlib
import mimetypes
import posixpath
from collections.abc import Callable, Iterator
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from dataclasses import dataclass
from urllib.parse import urljoin, urlsplit

import certifi
import urllib3
from urllib3.exceptions import HTTPError

from pipeline.platform.settings import get_settings
from pipeline.store import outputs

_MAX_REDIRECTS = 3
_GENERIC_TYPES = {"", "application/octet-stream", "binary/octet-stream"}
_EXPIRED_STATUSES = {401, 403, 404, 410}
_READ_BYTES = 1024 * 1024
_REDIRECT_STATUSES = {301, 302, 303, 307, 308}
# Every request asks for the bytes themselves, uncompressed: the sha256 and size are the file's.
_WHOLE = {"Accept-Encoding": "identity"}
# One pool for the warm container: thread-safe, so the parallel ranges share it, and big enough
# that none of their connections is thrown away (Transfer.parallel_ranges is at most 16).
_HTTP = urllib3.PoolManager(ca_certs=certifi.where(), retries=False, maxsize=17)
Answer = urllib3.BaseHTTPResponse


class DownloadFailed(Exception):
    """Worth retrying later: the network or the server misbehaved."""


class DownloadRefused(DownloadFailed):
    """The URL was refused as expired or unknown: a fresh URL may work."""


class DownloadForbidden(Exception):
    """Never worth retrying (for example a host we must not fetch from)."""


class OutputTooLarge(DownloadForbidden):
    """Over DownloadMaxBytes: it will not be smaller next time."""


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


class _BodyReader:
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


@dataclass(frozen=True)
class Transfer:
    """How one output is moved: part size, and how many ranges are fetched at once."""

    part_bytes: int = 8 * 1024 * 1024
    parallel_ranges: int = 4
    # A range that fails mid-body is fetched again this many times before the attempt fails.
    range_attempts: int = 2


def fetch_into_s3(
    url: str,
    key_for: Callable[[str], str],
    metadata: dict[str, str],
    allowed_hosts: list[str],
    timeout: tuple[float, float],
    transfer: Transfer | None = None,
) -> FetchedObject:
    """Fetch `url` into S3, writing each byte once, and return what was stored.

    The first request asks for the first part as a range. A server that honours it (206) has the
    rest fetched as ranges in parallel, each uploaded as its part as soon as it arrives; one that
    answers 200 is streamed as one body. Either way every byte is counted and hashed in order and
    the object only comes into existence (CompleteMultipartUpload, or the single PutObject) after
    every part arrived whole: a short or mixed body is never stored.
    """
    transfer = transfer or Transfer()
    response, url = _open(url, allowed_hosts, timeout, first_range=(0, transfer.part_bytes - 1))
    with _closing(response):
        extension = extension_of(url, response.headers.get("Content-Type", ""))
        content_type = _content_type(response.headers.get("Content-Type", ""), extension)
        key = key_for(extension)
        if response.status == 206:
            total = _total_of(response.headers.get("Content-Range", ""))
            if not total:
                raise DownloadFailed("the first range answer carried no usable Content-Range")
            _check_size(total)
            validator = _validator(response)
            copy = _RangedCopy(url, total, validator, timeout, transfer)
            first_range = (0, min(transfer.part_bytes, total) - 1)
            expected = f"bytes 0-{first_range[1]}/{total}"
            if response.headers.get("Content-Range", "").strip() != expected:
                raise DownloadFailed(
                    f"the first range answered Content-Range {response.headers.get('Content-Range')!r}, "
                    f"not {expected!r}"
                )
            try:
                first = _read_exactly(response, first_range[1] + 1)
            except DownloadFailed:  # cut short: fetched again like any other range
                first = copy.fetch_range(first_range)
            if total <= transfer.part_bytes:
                return _store_whole(key, first, content_type, metadata)
            with _Upload(key, content_type, metadata) as upload:
                size, sha256 = copy.run(upload, first)
            return FetchedObject(key, size, sha256, content_type)
        return _stream(response, key, content_type, metadata, transfer)


def _store_whole(key: str, body: bytearray, content_type: str, metadata: dict[str, str]) -> FetchedObject:
    sha256 = hashlib.sha256(body).hexdigest()
    try:
        outputs.put_whole(key, body, content_type, metadata, sha256)
    except Exception as exc:
        raise _upload_failed(exc) from exc
    return FetchedObject(key, len(body), sha256, content_type)


def _upload_failed(exc: BaseException) -> DownloadFailed:
    return DownloadFailed(f"upload to S3 failed: {exc.__class__.__name__}: {exc}")


class _Upload:
    """One multipart upload: created on entry, aborted on exit unless completed, so a failed copy
    leaves no object and no parts behind."""

    def __init__(self, key: str, content_type: str, metadata: dict[str, str]) -> None:
        self.key = key
        self._content_type = content_type
        self._metadata = metadata
        self._upload_id: str | None = None

    def __enter__(self) -> _Upload:
        try:
            self._upload_id = outputs.start_multipart(self.key, self._content_type, self._metadata)
        except Exception as exc:
            raise _upload_failed(exc) from exc
        return self

    def part(self, number: int, body: bytearray) -> outputs.UploadedPart:
        assert self._upload_id is not None  # narrows the type; set by __enter__  # nosec B101
        try:
            return outputs.upload_part(self.key, self._upload_id, number, body)
        except Exception as exc:
            raise _upload_failed(exc) from exc

    def complete(self, parts: list[outputs.UploadedPart], sha256: str) -> None:
        assert self._upload_id is not None  # narrows the type; set by __enter__  # nosec B101
        try:
            outputs.complete_multipart(self.key, self._upload_id, parts)
            self._upload_id = None
            outputs.tag_sha256(self.key, sha256)
        except Exception as exc:
            raise _upload_failed(exc) from exc

    def __exit__(self, *exc: object) -> None:
        if self._upload_id is not None:
            with contextlib.suppress(Exception):  # the bucket's lifecycle rule cleans up otherwise
                outputs.abort_multipart(self.key, self._upload_id)


def _stream(
    response: Answer,
    key: str,
    content_type: str,
    metadata: dict[str, str],
    transfer: Transfer,
) -> FetchedObject:
    """One body, read part by part in order (hashed as read); each full part is uploaded on a small
    pool while the next one is read, at most `parallel_ranges` parts held at once."""
    declared = response.headers.get("Content-Length")
    declared_length = int(declared) if declared and declared.isdigit() else None
    if declared_length is None and not _chunked(response):
        # Delimited only by the connection closing: a body cut short looks exactly like a whole
        # one, so it is never stored (the retry may get a length, or a range).
        raise DownloadFailed("the answer declares no length (no Content-Length, not chunked)")
    if declared_length is not None:
        _check_size(declared_length)
    reader = _BodyReader(response, declared_length, get_settings().download_max_bytes)
    part = _fill(reader, transfer.part_bytes)
    if len(part) < transfer.part_bytes or declared_length == len(part):
        if declared_length is not None and len(part) != declared_length:
            raise DownloadFailed(f"stored {len(part)} bytes but the server declared {declared_length}")
        return _store_whole(key, part, content_type, metadata)
    workers = max(1, transfer.parallel_ranges)
    sha256 = hashlib.sha256()
    with _Upload(key, content_type, metadata) as upload, ThreadPoolExecutor(workers, "part") as pool:
        uploads: list[Future[outputs.UploadedPart]] = []
        while part:
            sha256.update(part)
            uploads.append(pool.submit(upload.part, len(uploads) + 1, part))
            del part  # the pool's task holds the only reference: freed once sent
            in_flight = [future for future in uploads if not future.done()]
            if len(in_flight) >= workers:
                wait(in_flight, return_when=FIRST_COMPLETED)
            _raise_first_failure(uploads)
            part = _fill(reader, transfer.part_bytes)
        if declared_length is not None and reader.size != declared_length:
            raise DownloadFailed(f"stored {reader.size} bytes but the server declared {declared_length}")
        digest = sha256.hexdigest()
        upload.complete([future.result() for future in uploads], digest)
    return FetchedObject(key, reader.size, digest, content_type)


def _raise_first_failure(futures: list[Future[outputs.UploadedPart]]) -> None:
    for future in futures:
        if future.done() and future.exception() is not None:
            future.result()


def _fill(reader: _BodyReader, size: int) -> bytearray:
    buffer = bytearray()
    while len(buffer) < size:
        chunk = reader.read(min(size - len(buffer), _READ_BYTES))
        if not chunk:
            break
        buffer += chunk
    return buffer


class _RangedCopy:
    """The rest of a range-capable file. Up to `parallel_ranges` parts are in flight, each
    fetched whole on its own connection, checked (206, the exact Content-Range, the exact length,
    the same entity as the first range through If-Range) and uploaded as its part as soon as it
    arrived; the main thread hashes the parts in order and drops each one. At most
    `parallel_ranges` parts are in memory, whatever the file's size."""

    def __init__(
        self,
        url: str,
        total: int,
        validator: str | None,
        timeout: tuple[float, float],
        transfer: Transfer,
    ) -> None:
        self._url = url
        self._total = total
        self._validator = validator
        self._timeout = timeout
        self._transfer = transfer

    def run(self, upload: _Upload, first: bytearray) -> tuple[int, str]:
        size = self._transfer.part_bytes
        ranges = [(start, min(start + size, self._total) - 1) for start in range(0, self._total, size)]
        workers = max(1, self._transfer.parallel_ranges)
        sha256 = hashlib.sha256()
        parts: list[outputs.UploadedPart] = []
        with ThreadPoolExecutor(workers, thread_name_prefix="range") as pool:
            window: dict[int, Future[tuple[bytearray, outputs.UploadedPart]]] = {
                0: pool.submit(self._upload_first, upload, first)
            }
            del first
            submitted = 1
            try:
                for index in range(len(ranges)):
                    while submitted < len(ranges) and submitted - index < workers:
                        window[submitted] = pool.submit(self._part, upload, submitted, ranges[submitted])
                        submitted += 1
                    body, part = window.pop(index).result()
                    sha256.update(body)
                    parts.append(part)
                    del body
            finally:
                for future in window.values():
                    future.cancel()
        digest = sha256.hexdigest()
        upload.complete(parts, digest)
        return self._total, digest

    @staticmethod
    def _upload_first(upload: _Upload, body: bytearray) -> tuple[bytearray, outputs.UploadedPart]:
        return body, upload.part(1, body)

    def _part(
        self, upload: _Upload, index: int, byte_range: tuple[int, int]
    ) -> tuple[bytearray, outputs.UploadedPart]:
        body = self.fetch_range(byte_range)
        return body, upload.part(index + 1, body)

    def fetch_range(self, byte_range: tuple[int, int]) -> bytearray:
        start, end = byte_range
        headers = {"Range": f"bytes={start}-{end}", "Accept-Encoding": "identity"}
        if self._validator:
            # A file that changed since the first range is answered whole (200): never mixed.
            headers["If-Range"] = self._validator
        failure = DownloadFailed(f"range {start}-{end} was never fetched")
        for _ in range(max(1, self._transfer.range_attempts)):
            try:
                response = _get(self._url, headers, self._timeout)
            except (HTTPError, OSError) as exc:
                failure = DownloadFailed(f"range {start}-{end} failed: {exc.__class__.__name__}")
                continue
            with _closing(response):
                if response.status in _EXPIRED_STATUSES:
                    raise DownloadRefused(f"download URL answered {response.status} for a range")
                if response.status != 206:
                    raise DownloadFailed(
                        f"range {start}-{end} answered {response.status}, not 206 (file changed?)"
                    )
                expected = f"bytes {start}-{end}/{self._total}"
                answered = response.headers.get("Content-Range", "").strip()
                if answered != expected:
                    raise DownloadFailed(
                        f"range {start}-{end} answered Content-Range {answered!r}, not {expected!r}"
                    )
                try:
                    return _read_exactly(response, end - start + 1)
                except DownloadFailed as short:  # a cut connection: this range alone is fetched again
                    failure = short
        raise failure


def _read_exactly(response: Answer, length: int) -> bytearray:
    """The whole body, which must be exactly `length` bytes."""
    reader = _BodyReader(response, length)
    body = _fill(reader, length)
    if len(body) != length or reader.read(1):
        raise DownloadFailed(f"range body was not {length} bytes")
    return body


def _validator(response: Answer) -> str | None:
    """What If-Range may carry: a strong ETag, else Last-Modified (a weak ETag never matches)."""
    etag = response.headers.get("ETag", "")
    if etag and not etag.startswith("W/"):
        return etag
    return response.headers.get("Last-Modified")


def _total_of(content_range: str) -> int | None:
    unit, _, rest = content_range.strip().partition(" ")
    total = rest.rpartition("/")[2]
    return int(total) if unit == "bytes" and total.isdigit() else None


def _open(
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
            response = _get(url, headers, timeout)
        except (HTTPError, OSError) as exc:
            raise DownloadFailed(f"could not fetch output: {exc.__class__.__name__}") from exc
        if response.status in _REDIRECT_STATUSES and response.headers.get("Location"):
            url = urljoin(url, response.headers["Location"])
            response.close()
            continue
        if response.status in _EXPIRED_STATUSES:
            response.close()
            raise DownloadRefused(f"download URL answered {response.status}")
        if response.status == 416 and headers:
            # An empty file has no first byte to range over: ask for the whole (empty) body.
            response.close()
            headers = dict(_WHOLE)
            continue
        if response.status == 206 and _encoded(response):
            # A compressed range cannot be stitched together: fetch it as one body instead.
            response.close()
            headers = dict(_WHOLE)
            continue
        if response.status not in (200, 206) or (response.status == 206 and "Range" not in headers):
            response.close()
            raise DownloadFailed(f"download URL answered {response.status}")
        return response, url
    raise DownloadFailed("too many redirects")


def _get(url: str, headers: dict[str, str], timeout: tuple[float, float]) -> Answer:
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
def _closing(response: Answer) -> Iterator[Answer]:
    """A body read to its end gives its connection back to the pool; one left unread (an error,
    a refused range) is closed, so the next request never reads the rest of it."""
    try:
        yield response
    finally:
        if response.closed:  # read to its end
            response.release_conn()
        else:
            response.close()


def _check_size(size_bytes: int) -> None:
    limit = get_settings().download_max_bytes
    if size_bytes > limit:
        raise OutputTooLarge(f"the output is {size_bytes} bytes, over the {limit} this deployment stores")


def _chunked(response: Answer) -> bool:
    # Chunked framing marks its own end: urllib3 raises on a body cut before the last chunk.
    return "chunked" in response.headers.get("Transfer-Encoding", "").lower()


def _encoded(response: Answer) -> bool:
    return response.headers.get("Content-Encoding", "identity").strip().lower() not in ("", "identity")


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
