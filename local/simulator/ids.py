"""Magic Hour-shaped identifiers and timestamps."""

from __future__ import annotations

import itertools
import os
import secrets
import threading
import time
from datetime import UTC, datetime

_ALPHABET = "0123456789abcdefghijklmnopqrstuvwxyz"
_counter = itertools.count()
_counter_lock = threading.Lock()
_FINGERPRINT_SPACE = 36**4


def _base36(value: int, width: int) -> str:
    digits = []
    for _ in range(width):
        value, rem = divmod(value, 36)
        digits.append(_ALPHABET[rem])
    return "".join(reversed(digits))


def new_cuid() -> str:
    """A 25-character cuid (c + time + counter + fingerprint + random), like Magic Hour's ids."""
    with _counter_lock:
        count = next(_counter)
    millis = int(time.time() * 1000)
    random_part = "".join(secrets.choice(_ALPHABET) for _ in range(8))
    return (
        "c"
        + _base36(millis, 8)
        + _base36(count, 4)
        + _base36(os.getpid() % _FINGERPRINT_SPACE, 4)
        + random_part
    )


def iso_timestamp(unix_seconds: float) -> str:
    """'2024-10-19T05:16:19.027Z', the format Magic Hour uses for created_at and expires_at."""
    moment = datetime.fromtimestamp(unix_seconds, tz=UTC)
    return moment.isoformat(timespec="milliseconds").replace("+00:00", "Z")
