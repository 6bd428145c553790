"""The time an invocation has left, and whether one more step fits in it: the one seam by which
the dispatcher and the sweep stop before Lambda's timeout.

A step of either is at most one Magic Hour call waited out (connect plus read timeout) and a few
DynamoDB/SQS writes after it; neither starts a step it could not finish.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Protocol

from pipeline.platform.settings import get_settings

# Lambda's longest invocation: the budget of a run with no Lambda context (ops, local tools).
LAMBDA_LONGEST_MS = 15 * 60 * 1000
# The writes after a Magic Hour call: a job's move, its slot, a queue message.
_WRITES_MARGIN_SECONDS = 5.0


class _LambdaContext(Protocol):
    def get_remaining_time_in_millis(self) -> int: ...


def magic_hour_step_ms() -> int:
    """What one step may take: a Magic Hour call waited out, and the writes after it."""
    settings = get_settings()
    return int(
        (
            settings.magic_hour_connect_timeout_seconds
            + settings.magic_hour_read_timeout_seconds
            + _WRITES_MARGIN_SECONDS
        )
        * 1000
    )


@dataclass(frozen=True)
class TimeBudget:
    remaining_ms: Callable[[], int]

    @classmethod
    def of(cls, context: _LambdaContext) -> TimeBudget:
        """The invocation's own remaining time, as Lambda's context tells it."""
        return cls(context.get_remaining_time_in_millis)

    @classmethod
    def fixed(cls, ms: int = LAMBDA_LONGEST_MS) -> TimeBudget:
        """Always `ms` left: a run with no Lambda context (by default Lambda's longest)."""
        return cls(lambda: ms)

    def left_ms(self) -> int:
        return self.remaining_ms()

    def fits(self, step_ms: int) -> bool:
        """Whether a step that may take `step_ms` still ends before the invocation does."""
        return self.remaining_ms() >= step_ms

    def fits_magic_hour_step(self) -> bool:
        return self.fits(magic_hour_step_ms())
