"""Background timing: one timer thread for every delay, a worker pool for slow work.

Timers only flip state and hand slow work (HTTP deliveries) to the pool, so a stuck webhook receiver
can never delay another project's lifecycle.
"""

from __future__ import annotations

import heapq
import itertools
import logging
import threading
import time
from collections import deque
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor

log = logging.getLogger(__name__)

Task = Callable[[], None]


class Scheduler:
    def __init__(self) -> None:
        self._heap: list[tuple[float, int, Task]] = []
        self._sequence = itertools.count()  # keeps same-instant tasks in submission order
        self._cond = threading.Condition()
        self._stopped = False
        self._thread = threading.Thread(target=self._run, name="sim-scheduler", daemon=True)
        self._thread.start()

    def call_later(self, delay: float, task: Task) -> None:
        due = time.monotonic() + max(0.0, delay)
        with self._cond:
            heapq.heappush(self._heap, (due, next(self._sequence), task))
            self._cond.notify()

    def stop(self) -> None:
        with self._cond:
            self._stopped = True
            self._heap.clear()
            self._cond.notify()
        self._thread.join(timeout=5)

    def _run(self) -> None:
        while True:
            with self._cond:
                while not self._stopped:
                    if self._heap:
                        wait = self._heap[0][0] - time.monotonic()
                        if wait <= 0:
                            break
                        self._cond.wait(wait)
                    else:
                        self._cond.wait()
                if self._stopped:
                    return
                _, _, task = heapq.heappop(self._heap)
            try:
                task()
            except Exception:
                log.exception("simulator timer task failed")


class SerialDispatcher:
    """Runs tasks on the pool, one at a time per key, in submission order.

    Used per project so `started` is on the wire before `completed` even when both are due at once.
    """

    def __init__(self, executor: ThreadPoolExecutor) -> None:
        self._executor = executor
        self._queues: dict[str, deque[Task]] = {}
        self._lock = threading.Lock()

    def submit(self, key: str, task: Task) -> None:
        with self._lock:
            queue = self._queues.get(key)
            if queue is not None:
                queue.append(task)
                return
            self._queues[key] = deque([task])
        try:
            self._executor.submit(self._drain, key)
        except RuntimeError:
            # The pool is shut down: the simulator is stopping and pending deliveries are dropped.
            with self._lock:
                self._queues.pop(key, None)

    def _drain(self, key: str) -> None:
        while True:
            with self._lock:
                queue = self._queues[key]
                if not queue:
                    del self._queues[key]
                    return
                task = queue.popleft()
            try:
                task()
            except Exception:
                log.exception("simulator background task failed")
