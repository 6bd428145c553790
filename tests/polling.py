"""The one way tests wait: read something until it says yes, or fail at the deadline with what was
last seen. Never a bare sleep as synchronisation; tests/README.md."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any, TypeVar

T = TypeVar("T")


def poll(
    read: Callable[[], T],
    timeout: float = 30.0,
    what: str = "condition",
    *,
    until: Callable[[T], Any] = bool,
    interval: float = 0.1,
) -> T:
    """`read()` until `until` holds for its value (by default: the value is truthy), and give that
    value back. Reads once more at the deadline, so a slow machine's last chance is not lost."""
    deadline = time.monotonic() + timeout
    while True:
        value = read()
        if until(value):
            return value
        if time.monotonic() >= deadline:
            raise AssertionError(f"{what} not reached in {timeout}s; last seen: {value!r}")
        time.sleep(interval)
