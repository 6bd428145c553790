"""The tests' one poll helper (tests/polling.py): the first value that passes, else a failure that
names what was awaited and what was last seen."""

from __future__ import annotations

import itertools

import pytest

from tests.polling import poll


def test_gives_back_the_first_value_that_passes() -> None:
    reads = itertools.count()
    assert poll(lambda: next(reads), timeout=5, interval=0, until=lambda n: n >= 3) == 3


def test_a_truthy_value_passes_by_default() -> None:
    values = iter([None, [], {"status": "completed"}])
    assert poll(lambda: next(values), timeout=5, interval=0) == {"status": "completed"}


def test_fails_at_the_deadline_naming_what_and_the_last_value() -> None:
    with pytest.raises(AssertionError, match=r"the job's end not reached in 0.05s; last seen: 'running'"):
        poll(
            lambda: "running", timeout=0.05, what="the job's end", until=lambda s: s == "done", interval=0.01
        )
