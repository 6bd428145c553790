"""Fetching a create's input files, as Magic Hour does before it renders (local/simulator/README.md).

Only loopback URLs are fetched: locally they are presigned URLs of the local AWS endpoint or the
simulator's own uploads, while any other host would mean the simulator reaching out to the internet.
"""

from __future__ import annotations

import hashlib
import time
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

import requests

from local.simulator.state import InputFile
from local.simulator.tools import Kind

FILE_PATH_SUFFIX = "_file_path"
FETCHED_HOSTS = frozenset({"127.0.0.1", "localhost"})
_CHUNK_BYTES = 256 * 1024
# The order matters for names such as background_image_file_path: the first kind word found wins.
_KIND_WORDS: tuple[Kind, ...] = ("video", "image", "audio")


@dataclass(frozen=True)
class FetchLimits:
    connect_timeout_seconds: float = 2.0
    read_timeout_seconds: float = 5.0
    # A whole fetch (all of one file) may take at most this long, so a drip-feeding server cannot
    # hold a create for ever; the create answer waits for its inputs.
    total_seconds: float = 15.0
    max_bytes: int = 1 << 30


def file_paths(body: Any, prefix: str = "") -> Iterator[tuple[str, str]]:
    """(key path, value) of every string `*_file_path` at any depth, in body order."""
    if isinstance(body, dict):
        for key, value in body.items():
            path = f"{prefix}.{key}" if prefix else str(key)
            if isinstance(value, str) and str(key).endswith(FILE_PATH_SUFFIX):
                yield path, value
            else:
                yield from file_paths(value, path)
    elif isinstance(body, list):
        for position, item in enumerate(body):
            yield from file_paths(item, f"{prefix}[{position}]")


def field_kind(path: str, tool_kind: Kind) -> Kind:
    """video_file_path -> video; person_file_path (no kind in the name) -> the tool's kind."""
    name = path.rsplit(".", 1)[-1].removesuffix(FILE_PATH_SUFFIX)
    for word in _KIND_WORDS:
        if word in name.split("_"):
            return word
    return tool_kind


def is_fetched(url: str) -> bool:
    try:
        parts = urlsplit(url)
    except ValueError:
        return False
    return parts.scheme in {"http", "https"} and (parts.hostname or "") in FETCHED_HOSTS


def fetch_inputs(body: Any, tool_kind: Kind, limits: FetchLimits) -> list[InputFile]:
    return [
        fetch_one(path, url, field_kind(path, tool_kind), limits)
        if is_fetched(url)
        # Never fetched: recorded so a test can see what Magic Hour was handed.
        else InputFile(field=path, kind=field_kind(path, tool_kind), url=url, fetched=False)
        for path, url in file_paths(body)
    ]


def fetch_one(field: str, url: str, kind: Kind, limits: FetchLimits) -> InputFile:
    """Streams the file once, hashing and counting; memory stays at one chunk whatever its size."""
    deadline = time.monotonic() + limits.total_seconds
    digest = hashlib.sha256()
    size = 0
    try:
        # Redirects are not followed: one could lead off loopback, which must never be fetched.
        with requests.get(
            url,
            stream=True,
            allow_redirects=False,
            timeout=(limits.connect_timeout_seconds, limits.read_timeout_seconds),
        ) as response:
            status = response.status_code
            if status != 200:
                return InputFile(field, kind, url, fetched=True, status_code=status)
            for chunk in response.iter_content(_CHUNK_BYTES):
                size += len(chunk)
                if size > limits.max_bytes:
                    return _partial(field, kind, url, status, size, f"larger than {limits.max_bytes} bytes")
                if time.monotonic() > deadline:
                    return _partial(field, kind, url, status, size, f"slower than {limits.total_seconds} s")
                digest.update(chunk)
    except (requests.RequestException, ValueError) as exc:
        # ValueError: URLs requests cannot even encode. Whatever the cause, the fetch must end in a
        # record, or the project would hold its plan slot for ever. The exception text may quote
        # the URL (a presigned one), so only its class is kept.
        return InputFile(field, kind, url, fetched=True, problem=type(exc).__name__)
    return InputFile(
        field, kind, url, fetched=True, status_code=200, size_bytes=size, sha256=digest.hexdigest()
    )


def _partial(field: str, kind: Kind, url: str, status: int, size: int, problem: str) -> InputFile:
    return InputFile(field, kind, url, fetched=True, status_code=status, size_bytes=size, problem=problem)


def input_error(inputs: list[InputFile]) -> dict[str, str] | None:
    """Magic Hour's error for the first input it could not read, or None when all were fine."""
    for item in inputs:
        if item.failed:
            # The message names the field, never the URL: the pipeline may show it to its clients.
            return {
                "code": f"invalid_{item.kind}_file",
                "message": f"Unable to read the {item.kind} file given in {item.field}",
            }
    return None
