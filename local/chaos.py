"""Killing execution environments of a running local stack at random, as Lambda may lose one at
any moment (a host failure, an out-of-memory kill): for the chaos test and `make bench`.

Each kill is a SIGKILL of one environment's process, chosen among every function's live
environments, a busy one (mid-invocation) three times in four when there is one.
"""

from __future__ import annotations

import os
import random
import signal
import threading
from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True)
class Kill:
    function: str
    pid: int
    busy: bool


@dataclass
class EnvironmentKiller:
    """Kills `per_minute` environments a minute of `pools` (function -> FunctionPool) from `start`
    to `stop`; `kills` lists them."""

    pools: dict[str, Any]
    per_minute: float
    seed: int = 0
    kills: list[Kill] = field(default_factory=list)

    def __post_init__(self) -> None:
        self._random = random.Random(self.seed)  # chaos, not cryptography
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="environment-killer", daemon=True)

    def start(self) -> None:
        if self.per_minute > 0:
            self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join(timeout=10)

    def kill_one(self) -> Kill | None:
        busy = [(name, pid) for name, pool in self.pools.items() for pid in pool.pids(busy=True)]
        idle = [(name, pid) for name, pool in self.pools.items() for pid in pool.pids(busy=False)]
        chosen = busy if busy and (not idle or self._random.random() < 0.75) else idle
        if not chosen:
            return None
        name, pid = self._random.choice(chosen)
        try:
            os.kill(pid, signal.SIGKILL)
        except ProcessLookupError:  # it ended on its own meanwhile
            return None
        kill = Kill(name, pid, (name, pid) in busy)
        self.kills.append(kill)
        return kill

    def _run(self) -> None:
        # Exponential gaps: kills at random moments, `per_minute` on average.
        while not self._stop.wait(self._random.expovariate(self.per_minute / 60)):
            self.kill_one()
