"""Serving output files like a CDN would, plus the download faults of the scenario."""

from __future__ import annotations

import time
from collections.abc import Iterable, Iterator

from flask import Request, Response

from local.simulator.content import BLOCK_SIZE, iter_bytes
from local.simulator.responses import json_error
from local.simulator.state import Store
from local.simulator.views import UrlFactory

# Throttled streams are cut into pieces of about 1/20 s so the rate is smooth, not bursty.
_THROTTLE_SLICES_PER_SECOND = 20


class Unsatisfiable(ValueError):
    """A well-formed single byte range that starts past the end of the file (416)."""


def byte_range(header: str | None, size: int) -> tuple[int, int] | None:
    """[start, stop) of a single `bytes=a-b`, `a-` or `-n` range (RFC 9110 section 14), or None
    to serve the whole file: no header, another unit, several ranges or a malformed one, all of
    which a server may ignore. Raises Unsatisfiable when no byte of the file is in the range."""
    if header is None:
        return None
    unit, _, spec = header.partition("=")
    if unit.strip().lower() != "bytes" or "," in spec:
        return None
    first, dash, last = spec.strip().partition("-")
    if not dash or not (first.isdigit() or first == "") or not (last.isdigit() or last == ""):
        return None
    if first == "":
        if last == "":
            return None
        suffix = int(last)
        if suffix == 0 or size == 0:
            raise Unsatisfiable
        return max(0, size - suffix), size
    start = int(first)
    if last != "" and int(last) < start:
        return None
    if start >= size:
        raise Unsatisfiable
    stop = size if last == "" else min(int(last) + 1, size)
    return start, stop


def serve_download(
    store: Store, urls: UrlFactory, request: Request, project_id: str, index: int, filename: str
) -> Response:
    # HEAD only asks for the headers (a ranged downloader learns the size first): it is no
    # download, so it is neither counted nor subject to the download faults.
    counts_as_attempt = request.method != "HEAD"
    if counts_as_attempt:
        store.count("downloads")
    now = time.time()
    refusal = urls.check(request.path, request.args, now)
    if refusal is not None:
        return json_error(403, refusal)
    with store.lock:
        project = store.projects.get(project_id)
        output = None
        if project is not None:
            output = next((o for o in project.available_outputs if o.index == index), None)
        if project is None or output is None or filename != output.filename(project.id):
            return json_error(404, "Not Found")
        scenario = project.scenario
        truncate = False
        if counts_as_attempt:
            # Every GET counts, ranged or not, as every request to a CDN can fail on its own.
            requests_so_far = project.download_requests.get(index, 0) + 1
            project.download_requests[index] = requests_so_far
            if requests_so_far <= scenario.download_fail_first:
                return json_error(scenario.download_fail_status, "Simulated download failure")
            served = project.served_responses.get(index, 0) + 1
            project.served_responses[index] = served
            truncate = served <= scenario.download_truncate_first
        rate = scenario.download_bytes_per_second

    size = output.size_bytes
    etag = f'"{project_id}-{index}-{size}"'
    headers = {
        "Content-Type": output.content_type,
        "Accept-Ranges": "bytes",
        "ETag": etag,
        "Cache-Control": "private, max-age=86400",
    }
    range_header = request.headers.get("Range")
    if_range = request.headers.get("If-Range")
    if if_range is not None and if_range.strip() != etag:
        range_header = None  # the client's copy is of another file: it gets the whole new one
    try:
        span = byte_range(range_header, size)
    except Unsatisfiable:
        unsatisfiable = {"Accept-Ranges": "bytes", "ETag": etag, "Content-Range": f"bytes */{size}"}
        return Response(status=416, headers=unsatisfiable)
    start, stop, status = 0, size, 200
    if span is not None:
        start, stop = span
        status = 206
        headers["Content-Range"] = f"bytes {start}-{stop - 1}/{size}"
    length = stop - start
    headers["Content-Length"] = str(length)
    if not counts_as_attempt:
        return Response(status=status, headers=headers)
    # A truncated answer still promises the full length, then the connection closes early: the
    # werkzeug server closes every connection after its response, so the client sees a short read.
    sent = length // 2 if truncate else length
    body = _throttled(iter_bytes(project_id, index, start, start + sent), rate)
    return Response(body, status=status, headers=headers, direct_passthrough=True)


def _throttled(pieces: Iterable[bytes], bytes_per_second: float | None) -> Iterator[bytes]:
    if bytes_per_second is None:
        yield from pieces
        return
    slice_size = max(1, min(BLOCK_SIZE, int(bytes_per_second / _THROTTLE_SLICES_PER_SECOND)))
    started = time.monotonic()
    sent = 0
    for piece in pieces:
        for offset in range(0, len(piece), slice_size):
            part = piece[offset : offset + slice_size]
            sent += len(part)
            delay = started + sent / bytes_per_second - time.monotonic()
            if delay > 0:
                time.sleep(delay)
            yield part
