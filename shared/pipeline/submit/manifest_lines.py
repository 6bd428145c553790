"""A JSON Lines manifest read as a stream of numbered lines (CONTRACT §1 "Batches").

The file is never held whole: it is read in chunks and each line handed on as it ends, so memory
stays at one chunk plus one line (at most MAX_LINE_BYTES) whatever the file's size. A line over
that bound is reported, its rest skipped up to the next newline, never buffered. Reading stops
after MAX_LINES + 1 lines: the one over the bound is reported, the rest never read.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Protocol

MAX_LINES = 10_000
MAX_LINE_BYTES = 256 * 1024
CHUNK_BYTES = 64 * 1024


class Readable(Protocol):
    def read(self, size: int, /) -> bytes: ...


@dataclass(frozen=True)
class Line:
    """Line `number` (from 1): its bytes without the newline, or None when it was too long."""

    number: int
    data: bytes | None


def lines_of(stream: Readable, max_lines: int = MAX_LINES) -> Iterator[Line]:
    """Every line of `stream`, numbered from 1; a final newline ends the last line (it starts no
    empty one). Stops after line `max_lines + 1`, which the caller reports as one too many."""
    pending: list[bytes] = []
    size, number, skipping = 0, 0, False
    while True:
        chunk = stream.read(CHUNK_BYTES)
        if not chunk:
            break
        start = 0
        while start < len(chunk):
            end = chunk.find(b"\n", start)
            piece = chunk[start:] if end < 0 else chunk[start:end]
            if not skipping:
                size += len(piece)
                if size > MAX_LINE_BYTES:
                    skipping, pending = True, []
                else:
                    pending.append(piece)
            if end < 0:
                break
            number += 1
            yield Line(number, None if skipping else b"".join(pending))
            if number > max_lines:
                return
            pending, size, skipping, start = [], 0, False, end + 1
    if pending or skipping:  # the last line, without a final newline
        number += 1
        yield Line(number, None if skipping else b"".join(pending))
