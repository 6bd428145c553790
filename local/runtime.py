"""Running a template function the way Lambda does, without Docker.

Each function gets up to `workers` execution environments (local/environment.py), one process
each: it imports the handler once (cold start) with only that function's environment variables,
handles one invocation at a time and stays warm. Concurrent invocations go to different
environments, as on Lambda; one that times out, runs out of memory or crashes is discarded alone
and a fresh one takes its place on the next invocation.
"""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

from layer_path import ROOT
from local.environment import Environment, Invocation, LambdaContext
from local.iam import Place, Policy
from local.template import FunctionSpec

__all__ = ["ROOT", "FunctionPool", "Invocation", "LambdaContext"]


class FunctionPool:
    def __init__(
        self,
        spec: FunctionSpec,
        environment: dict[str, str],
        workers: int,
        log_path: str | None = None,
        policy: Policy | None = None,
        place: Place | None = None,
    ) -> None:
        self.spec = spec
        self.policy = policy
        self.place = place
        self.log_path = log_path
        self.environment = environment
        self.workers = workers
        # At most `workers` invocations at once (the function's concurrency); beyond, callers wait.
        self._slots = threading.BoundedSemaphore(workers)
        self._lock = threading.Lock()
        self._idle: list[Environment] = []
        self._all: list[Environment] = []
        self._running = 0
        self._stopped = False

    def _new_environment(self) -> Environment:
        environment = Environment(
            self.environment,
            str(ROOT / self.spec.code_uri)
            if not Path(self.spec.code_uri).is_absolute()
            else self.spec.code_uri,
            self.spec.handler,
            {
                "name": self.spec.logical_id,
                "memory": self.spec.memory,
                "log_path": self.log_path,
                "policy": self.policy,
                "place": self.place,
            },
        )
        with self._lock:
            self._all.append(environment)
        return environment

    def warm_up(self) -> None:
        """Start every environment now, so the first requests do not pay the cold start."""
        fresh = [self._new_environment() for _ in range(self.workers)]
        with ThreadPoolExecutor(max_workers=self.workers) as starting:
            failures = [failure for failure in starting.map(Environment.start, fresh) if failure is not None]
        if failures:
            raise RuntimeError(f"{self.spec.logical_id}: init failed: {failures[0].error}")
        with self._lock:
            self._idle.extend(fresh)

    def busy(self) -> int:
        """Invocations running now, what Lambda's ConcurrentExecutions counts (callers waiting for
        a worker are not among them)."""
        with self._lock:
            return self._running

    def invoke(self, event: dict[str, Any]) -> Invocation:
        with self._slots, self._counted():
            environment = self._take_idle()
            if environment is None:
                environment = self._new_environment()
                failed = environment.start()
                if failed is not None:
                    self._forget(environment)
                    return failed
            try:
                return environment.invoke(event, self.spec.timeout, self.spec.memory)
            finally:
                if environment.alive and not self._stopped:
                    with self._lock:
                        self._idle.append(environment)
                else:
                    # Discarded (timed out, out of memory, crashed): the next invocation starts
                    # a fresh environment, as Lambda does.
                    environment.kill()
                    self._forget(environment)

    @contextlib.contextmanager
    def _counted(self) -> Iterator[None]:
        with self._lock:
            self._running += 1
        try:
            yield
        finally:
            with self._lock:
                self._running -= 1

    def _take_idle(self) -> Environment | None:
        """A warm environment whose process still runs; ones that died while idle are dropped
        (Lambda would never route an invocation to a dead environment)."""
        while True:
            with self._lock:
                environment = self._idle.pop() if self._idle else None
            if environment is None or environment.running:
                return environment
            environment.kill()
            self._forget(environment)

    def _forget(self, environment: Environment) -> None:
        with self._lock:
            if environment in self._all:
                self._all.remove(environment)

    def pids(self, busy: bool | None = None) -> list[int]:
        """The processes of the live environments (only the busy or idle ones when asked)."""
        with self._lock:
            return [
                e.pid for e in self._all if e.pid is not None and e.alive and (busy is None or e.busy == busy)
            ]

    def shutdown(self) -> None:
        self._stopped = True
        with self._lock:
            environments = list(self._all)
            self._all.clear()
            self._idle.clear()
        for environment in environments:
            environment.kill()
