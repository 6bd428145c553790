"""The S3 side of copying a remote file: one PutObject for a file of one part, else a multipart
upload that only completes once every part arrived (aborted otherwise, so nothing short is stored)."""

from __future__ import annotations

import contextlib
import hashlib
from concurrent.futures import Future
from dataclasses import dataclass

from pipeline.downloads.fetch_errors import DownloadFailed
from pipeline.store import outputs


@dataclass(frozen=True)
class FetchedObject:
    key: str
    size_bytes: int
    sha256: str
    content_type: str


def store_whole(key: str, body: bytearray, content_type: str, metadata: dict[str, str]) -> FetchedObject:
    sha256 = hashlib.sha256(body).hexdigest()
    try:
        outputs.put_whole(key, body, content_type, metadata, sha256)
    except Exception as exc:
        raise upload_failed(exc) from exc
    return FetchedObject(key, len(body), sha256, content_type)


def upload_failed(exc: BaseException) -> DownloadFailed:
    return DownloadFailed(f"upload to S3 failed: {exc.__class__.__name__}: {exc}")


class Upload:
    """One multipart upload: created on entry, aborted on exit unless completed, so a failed copy
    leaves no object and no parts behind."""

    def __init__(self, key: str, content_type: str, metadata: dict[str, str]) -> None:
        self.key = key
        self._content_type = content_type
        self._metadata = metadata
        self._upload_id: str | None = None

    def __enter__(self) -> Upload:
        try:
            self._upload_id = outputs.start_multipart(self.key, self._content_type, self._metadata)
        except Exception as exc:
            raise upload_failed(exc) from exc
        return self

    def part(self, number: int, body: bytearray) -> outputs.UploadedPart:
        assert self._upload_id is not None  # narrows the type; set by __enter__  # nosec B101
        try:
            return outputs.upload_part(self.key, self._upload_id, number, body)
        except Exception as exc:
            raise upload_failed(exc) from exc

    def complete(self, parts: list[outputs.UploadedPart], sha256: str) -> None:
        assert self._upload_id is not None  # narrows the type; set by __enter__  # nosec B101
        try:
            outputs.complete_multipart(self.key, self._upload_id, parts)
            self._upload_id = None
            outputs.tag_sha256(self.key, sha256)
        except Exception as exc:
            raise upload_failed(exc) from exc

    def __exit__(self, *exc: object) -> None:
        if self._upload_id is not None:
            with contextlib.suppress(Exception):  # the bucket's lifecycle rule cleans up otherwise
                outputs.abort_multipart(self.key, self._upload_id)


def raise_first_failure(futures: list[Future[outputs.UploadedPart]]) -> None:
    for future in futures:
        if future.done() and future.exception() is not None:
            future.result()
