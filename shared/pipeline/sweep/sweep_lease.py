"""The sweep's lease, held a short while at a time and renewed as the run goes on.

Lambda may lose an execution environment at any moment, and a dead sweep never releases its
lease. Held for the whole invocation (280 s), it kept every later sweep out until it ran out: no
owed callback queued, no lost webhook or stuck download recovered meanwhile (with a one-minute
schedule, four runs lost; locally, with one-second runs, the chaos test's whole settling time).
Held for two checks' time and renewed before each check, a dead sweep holds the next one back for
that long at most.
"""

from __future__ import annotations

import math
import time

from pipeline.platform.observability import logger
from pipeline.store import leases


def lease_seconds(needed_per_check_ms: int, budget_ms: int) -> int:
    """Two checks' worst case: the longest gap between two renewals is one check (every worker
    busy with a slow Magic Hour call), plus the run's last writes; never past the invocation."""
    return min(budget_ms // 1000 + 1, math.ceil(2 * needed_per_check_ms / 1000))


def _now() -> float:
    return time.monotonic()


class HeldLease:
    def __init__(self, name: str, holder: str, seconds: int) -> None:
        self.name = name
        self.holder = holder
        self.seconds = seconds
        self._renewed_at = 0.0
        self.lost = False

    def acquire(self) -> bool:
        """True when this run now holds the lease; False while another sweep holds it."""
        if not leases.acquire(self.name, self.holder, self.seconds):
            return False
        self._renewed_at = _now()
        return True

    def keep(self) -> bool:
        """Before each check: renews the lease once a third of it has gone. False when it was
        lost (this run outlived it, say a long first read, and another sweep took it over): the
        run then starts no more checks, so two sweeps never check at once for long."""
        if self.lost:
            return False
        if _now() - self._renewed_at < self.seconds / 3:
            return True
        if leases.acquire(self.name, self.holder, self.seconds):  # the same holder renews
            self._renewed_at = _now()
            return True
        logger.warning("the sweep's lease was taken over; this run stops", extra={"holder": self.holder})
        self.lost = True
        return False

    def release(self) -> None:
        if not self.lost:
            leases.release(self.name, self.holder)
