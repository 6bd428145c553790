"""Copying one remote file into S3: bounded memory, counted, hashed, written once, never stored short.

The copy's parts: fetch_errors.py (what can go wrong), http_source.py (the HTTP side),
s3_parts.py (the S3 side), ranged_copy.py (a range-capable file's parallel ranges).
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait

from pipeline.downloads.fetch_errors import DownloadFailed as DownloadFailed
from pipeline.downloads.fetch_errors import DownloadForbidden as DownloadForbidden
from pipeline.downloads.fetch_errors import DownloadRefused as DownloadRefused
from pipeline.downloads.fetch_errors import OutputTooLarge as OutputTooLarge
from pipeline.downloads.http_source import (
    Answer,
    BodyReader,
    check_size,
    chunked,
    closing,
    content_type_of,
    fill,
    open_first,
    read_exactly,
    total_of,
    validator_of,
)
from pipeline.downloads.http_source import extension_of as extension_of
from pipeline.downloads.ranged_copy import RangedCopy
from pipeline.downloads.ranged_copy import Transfer as Transfer
from pipeline.downloads.s3_parts import FetchedObject as FetchedObject
from pipeline.downloads.s3_parts import Upload, raise_first_failure, store_whole
from pipeline.platform.settings import get_settings
from pipeline.store import outputs


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
    response, url = open_first(url, allowed_hosts, timeout, first_range=(0, transfer.part_bytes - 1))
    with closing(response):
        extension = extension_of(url, response.headers.get("Content-Type", ""))
        content_type = content_type_of(response.headers.get("Content-Type", ""), extension)
        key = key_for(extension)
        if response.status == 206:
            total = total_of(response.headers.get("Content-Range", ""))
            if not total:
                raise DownloadFailed("the first range answer carried no usable Content-Range")
            check_size(total)
            validator = validator_of(response)
            copy = RangedCopy(url, total, validator, timeout, transfer)
            first_range = (0, min(transfer.part_bytes, total) - 1)
            expected = f"bytes 0-{first_range[1]}/{total}"
            if response.headers.get("Content-Range", "").strip() != expected:
                raise DownloadFailed(
                    f"the first range answered Content-Range {response.headers.get('Content-Range')!r}, "
                    f"not {expected!r}"
                )
            try:
                first = read_exactly(response, first_range[1] + 1)
            except DownloadFailed:  # cut short: fetched again like any other range
                first = copy.fetch_range(first_range)
            if total <= transfer.part_bytes:
                return store_whole(key, first, content_type, metadata)
            with Upload(key, content_type, metadata) as upload:
                size, sha256 = copy.run(upload, first)
            return FetchedObject(key, size, sha256, content_type)
        return _stream(response, key, content_type, metadata, transfer)


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
    if declared_length is None and not chunked(response):
        # Delimited only by the connection closing: a body cut short looks exactly like a whole
        # one, so it is never stored (the retry may get a length, or a range).
        raise DownloadFailed("the answer declares no length (no Content-Length, not chunked)")
    if declared_length is not None:
        check_size(declared_length)
    reader = BodyReader(response, declared_length, get_settings().download_max_bytes)
    part = fill(reader, transfer.part_bytes)
    if len(part) < transfer.part_bytes or declared_length == len(part):
        if declared_length is not None and len(part) != declared_length:
            raise DownloadFailed(f"stored {len(part)} bytes but the server declared {declared_length}")
        return store_whole(key, part, content_type, metadata)
    workers = max(1, transfer.parallel_ranges)
    sha256 = hashlib.sha256()
    with Upload(key, content_type, metadata) as upload, ThreadPoolExecutor(workers, "part") as pool:
        uploads: list[Future[outputs.UploadedPart]] = []
        while part:
            sha256.update(part)
            uploads.append(pool.submit(upload.part, len(uploads) + 1, part))
            del part  # the pool's task holds the only reference: freed once sent
            in_flight = [future for future in uploads if not future.done()]
            if len(in_flight) >= workers:
                wait(in_flight, return_when=FIRST_COMPLETED)
            raise_first_failure(uploads)
            part = fill(reader, transfer.part_bytes)
        if declared_length is not None and reader.size != declared_length:
            raise DownloadFailed(f"stored {reader.size} bytes but the server declared {declared_length}")
        digest = sha256.hexdigest()
        upload.complete([future.result() for future in uploads], digest)
    return FetchedObject(key, reader.size, digest, content_type)
