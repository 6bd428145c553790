"""The simulator's output bytes: deterministic, any range a slice of the whole, and no two blocks
of a file (nor two files) alike, so a downloader that mixes up, repeats or drops a range stores
another sha256."""

from __future__ import annotations

import hashlib

from local.simulator.content import BLOCK_SIZE, file_sha256, iter_bytes

SIZE = 40 * BLOCK_SIZE + 123


def _whole(project_id: str = "p1", index: int = 0, size: int = SIZE) -> bytes:
    return b"".join(iter_bytes(project_id, index, 0, size))


def test_the_same_file_is_the_same_bytes_and_its_sha256_is_theirs() -> None:
    whole = _whole()
    assert len(whole) == SIZE
    assert whole == _whole()
    assert file_sha256("p1", 0, SIZE) == hashlib.sha256(whole).hexdigest()


def test_any_range_is_the_slice_of_the_whole_file() -> None:
    whole = _whole()
    for start, stop in [(0, 1), (5, BLOCK_SIZE + 7), (BLOCK_SIZE, 3 * BLOCK_SIZE), (SIZE - 10, SIZE)]:
        assert b"".join(iter_bytes("p1", 0, start, stop)) == whole[start:stop]


def test_no_two_blocks_of_a_file_are_alike_nor_shifted_copies() -> None:
    whole = _whole(size=400 * BLOCK_SIZE)
    blocks = [whole[start : start + BLOCK_SIZE] for start in range(0, len(whole), BLOCK_SIZE)]
    assert len(set(blocks)) == len(blocks)
    # A range read one block late, or a few bytes off, is other bytes.
    assert whole[BLOCK_SIZE : 2 * BLOCK_SIZE] != whole[2 * BLOCK_SIZE : 3 * BLOCK_SIZE]
    assert whole[100 : 100 + BLOCK_SIZE] != whole[101 : 101 + BLOCK_SIZE]


def test_other_projects_and_outputs_are_other_bytes() -> None:
    assert _whole("p1", 0) != _whole("p2", 0)
    assert _whole("p1", 0) != _whole("p1", 1)
