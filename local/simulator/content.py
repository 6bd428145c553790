"""Deterministic output bytes: the same (project id, output index) always yields the same file.

Each file has one SHAKE-256 pad keyed by (project, index); block N is the pad rotated by an offset
drawn from N, with N itself in its first 8 bytes. Any byte range can be produced on its own, a file
of any size streams in constant memory, and no two blocks of a file are alike (a downloader that
mixes up, repeats or drops a range stores another sha256). Making a block is a memory copy, not a
hash: Magic Hour's CDN costs the pipeline no CPU, so its stand-in should take as little as it can
from the machine the pipeline is measured on (SHAKE-256 per byte ran at about 330 MiB/s, which was
a third of a core during a 1 GB download in `make bench`).
"""

from __future__ import annotations

import hashlib
import threading
from collections.abc import Iterator

BLOCK_SIZE = 64 * 1024
_NUMBER_BYTES = 8
# Odd multiplier: block numbers map onto rotations without a short cycle.
_ROTATION_STRIDE = 40_503

_sha_cache: dict[tuple[str, int, int], str] = {}
_sha_lock = threading.Lock()


def _pad(project_id: str, index: int) -> bytes:
    seed = f"magic-hour-sim:{project_id}:{index}:".encode()
    pad = hashlib.shake_256(seed).digest(BLOCK_SIZE)
    return pad + pad  # doubled, so every rotation is one slice


def _block(doubled_pad: bytes, number: int) -> bytes:
    rotation = (number * _ROTATION_STRIDE) % BLOCK_SIZE
    body = doubled_pad[rotation + _NUMBER_BYTES : rotation + BLOCK_SIZE]
    return number.to_bytes(_NUMBER_BYTES, "big") + body


def iter_bytes(project_id: str, index: int, start: int, stop: int) -> Iterator[bytes]:
    """The file's bytes in [start, stop), one block-sized piece at a time."""
    doubled_pad = _pad(project_id, index)
    position = start
    while position < stop:
        number, offset = divmod(position, BLOCK_SIZE)
        take = min(BLOCK_SIZE - offset, stop - position)
        block = _block(doubled_pad, number)
        yield block if (offset, take) == (0, BLOCK_SIZE) else block[offset : offset + take]
        position += take


def file_sha256(project_id: str, index: int, size: int) -> str:
    """Hex sha256 of the whole file, computed once by streaming it and then cached."""
    key = (project_id, index, size)
    with _sha_lock:
        cached = _sha_cache.get(key)
    if cached is not None:
        return cached
    digest = hashlib.sha256()
    for piece in iter_bytes(project_id, index, 0, size):
        digest.update(piece)
    result = digest.hexdigest()
    with _sha_lock:
        _sha_cache[key] = result
    return result


def forget(project_id: str) -> None:
    with _sha_lock:
        for key in [key for key in _sha_cache if key[0] == project_id]:
            del _sha_cache[key]
