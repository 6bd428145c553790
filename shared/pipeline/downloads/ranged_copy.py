"""The rest of a range-capable file, fetched as ranges in parallel and uploaded part by part."""

from __future__ import annotations

import hashlib
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass

from urllib3.exceptions import HTTPError

from pipeline.downloads.fetch_errors import DownloadFailed, DownloadRefused
from pipeline.downloads.http_source import EXPIRED_STATUSES, closing, get, read_exactly
from pipeline.downloads.s3_parts import Upload
from pipeline.store import outputs


@dataclass(frozen=True)
class Transfer:
    """How one output is moved: part size, and how many ranges are fetched at once."""

    part_bytes: int = 8 * 1024 * 1024
    parallel_ranges: int = 4
    # A range that fails mid-body is fetched again this many times before the attempt fails.
    range_attempts: int = 2


class RangedCopy:
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

    def run(self, upload: Upload, first: bytearray) -> tuple[int, str]:
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
    def _upload_first(upload: Upload, body: bytearray) -> tuple[bytearray, outputs.UploadedPart]:
        return body, upload.part(1, body)

    def _part(
        self, upload: Upload, index: int, byte_range: tuple[int, int]
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
                response = get(self._url, headers, self._timeout)
            except (HTTPError, OSError) as exc:
                failure = DownloadFailed(f"range {start}-{end} failed: {exc.__class__.__name__}")
                continue
            with closing(response):
                if response.status in EXPIRED_STATUSES:
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
                    return read_exactly(response, end - start + 1)
                except DownloadFailed as short:  # a cut connection: this range alone is fetched again
                    failure = short
        raise failure
