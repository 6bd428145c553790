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


def serve_download(
    store: Store, urls: UrlFactory, request: Request, project_id: str, index: int, filename: str
) -> Response:
    store.count("downloads")
    now = time.time()
    refusal = urls.check(request.path, request.args, now)
    if refusal is not None:
        return json_error(403, refusal)
    counts_as_attempt = request.method != "HEAD"
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
            requests_so_far = project.download_requests.get(index, 0) + 1
            project.download_requests[index] = requests_so_far
            if requests_so_far <= scenario.download_fail_first:
                return json_error(scenario.download_fail_status, "Simulated download failure")
            served = project.served_responses.get(index, 0) + 1
            project.served_responses[index] = served
            truncate = served <= scenario.download_truncate_first
        rate = scenario.download_bytes_per_second

    size = output.size_bytes
    headers = {
        "Content-Type": output.content_type,
        "Accept-Ranges": "bytes",
        "ETag": f'"{project_id}-{index}-{size}"',
        "Cache-Control": "private, max-age=86400",
    }
    start, stop, status = 0, size, 200
    if request.headers.get("Range"):
        span = request.range.range_for_length(size) if request.range is not None else None
        if request.range is not None and span is None:
            return Response(status=416, headers={"Content-Range": f"bytes */{size}"})
        if span is not None:
            start, stop = span
            status = 206
            headers["Content-Range"] = f"bytes {start}-{stop - 1}/{size}"
    length = stop - start
    headers["Content-Length"] = str(length)
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
