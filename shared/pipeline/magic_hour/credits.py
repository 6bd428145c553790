"""Magic Hour's `credits_charged`, as the pipeline may store it (DynamoDB numbers, our counters).

Its own small module: the client, the webhook models and the sweep all read it, and a function
that only creates projects need not load the webhook models for it.
"""

from __future__ import annotations

import math
from typing import Any

# Far above any real project (Magic Hour charges thousands of credits for a long video) and far
# below what DynamoDB's numbers (38 digits) and JSON clients (2^53) can hold.
MAX_CREDITS = 10**12


def storable_credits(value: Any) -> tuple[int | None, bool]:
    """Magic Hour's `credits_charged` as we may store it, and whether the value it sent was out of
    range. Never a reason to refuse the answer it came in: that would lose the project it names
    (paid for). An absent value is simply unknown (None, in range)."""
    if value is None:
        return None, False
    if isinstance(value, bool):
        return None, True
    if isinstance(value, float) and math.isfinite(value) and value.is_integer():
        value = int(value)
    if isinstance(value, int) and 0 <= value <= MAX_CREDITS:
        return value, False
    return None, True
