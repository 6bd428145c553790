"""Deterministic output bytes: the same (project id, output index) always yields the same file.

Blocks come from SHAKE-256 keyed by (project, index, block number), so any byte range can be produced
on its own and a file of any size streams in constant memory.
"""

from __future__ import annotations

import hashlib
import threading
from collections.abc import Iterator

BLOCK_SIZE = 64 * 1024

_sha_cache: dict[tuple[str, int, int], str] = {}
_sha_lock = threading.Lock()


def _seed(project_id: str, index: int) -> bytes:
    return f"magic-hour-sim:{project_id}:{index}:".encode()


def _block(seed: bytes, number: int) -> bytes:
    return hashlib.shake_256(seed + number.to_bytes(8, "big")).digest(BLOCK_SIZE)


def iter_bytes(project_id: str, index: int, start: int, stop: int) -> Iterator[bytes]:
    """The file's bytes in [start, stop), one block-sized piece at a time."""
    seed = _seed(project_id, index)
    position = start
    while position < stop:
        number, offset = divmod(position, BLOCK_SIZE)
        take = min(BLOCK_SIZE - offset, stop - position)
        yield _block(seed, number)[offset : offset + take]
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
