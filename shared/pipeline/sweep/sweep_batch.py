"""The sweep's batch: every due check, fairly between clients, as fast as the time budget allows.

- **Round-robin by client.** Due checks sit in one lane per client, each oldest first, and are
  taken one lane after another; a client seen for the first time joins the rotation at once. So
  one client's thousands of watched jobs cost another client's job a wait of one check per other
  client, not one per job.
- **Waiting jobs are the dispatcher's.** A `waiting` job needs no Magic Hour call, only its
  deadlines watched; all of them share one lane, so however many wait they take one client's share.
- **No fixed batch size.** The run checks `sweep_concurrency` jobs at once (each mostly waits on one
  Magic Hour GET) and reads newly due entries as it goes, until nothing is due, its time budget
  ends, or it has run one sweep period (the next run reads the index afresh and carries on). At
  most `sweep_scan_limit` entries are held in memory; the rest stay due for the next read.
"""

from __future__ import annotations

import time
from collections import OrderedDict, deque
from collections.abc import Callable, Iterable
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait

from pipeline.platform.settings import get_settings
from pipeline.store import due_checks
from pipeline.store.due_checks import DueCheck

# Lane of every `waiting` job (no client id is empty).
WAITING_LANE = ""
# How often a run looks for checks that became due since its last read.
REFRESH_SECONDS = 1.0
# How much of the index's head the overdue figure reads, to step over entries that lag.
_HEAD = 50


class Lanes:
    """Due checks by client, taken round-robin; each lane oldest first."""

    def __init__(self) -> None:
        self._lanes: OrderedDict[str, deque[DueCheck]] = OrderedDict()
        self._queued: set[str] = set()

    def add(self, entries: Iterable[DueCheck]) -> None:
        for entry in entries:
            if entry.job_id in self._queued:
                continue
            self._queued.add(entry.job_id)
            lane = WAITING_LANE if entry.status == "waiting" else entry.client_id
            self._lanes.setdefault(lane, deque()).append(entry)

    def take(self) -> DueCheck | None:
        """The next check: the head of the lane whose turn it is (which then goes last)."""
        if not self._lanes:
            return None
        lane, entries = next(iter(self._lanes.items()))
        entry = entries.popleft()
        self._queued.discard(entry.job_id)
        if entries:
            self._lanes.move_to_end(lane)
        else:
            del self._lanes[lane]
        return entry

    def oldest_due(self) -> int | None:
        """When the longest-waiting check still queued became due."""
        heads = [entries[0].next_check_at for entries in self._lanes.values()]
        return min(heads) if heads else None

    def __len__(self) -> int:
        return len(self._queued)


class Batch:
    """One run's checks. `check` does one (and must not raise); `report` counts each outcome."""

    def __init__(
        self,
        now: int,
        check: Callable[[DueCheck, int], str],
        report: Callable[[str], None],
        time_left: Callable[[], bool],
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        settings = get_settings()
        self._start_now = now
        self._check = check
        self._report = report
        self._time_left = time_left
        self._clock = clock
        self._started = self._period_from = clock()
        self._period = settings.sweep_interval_minutes * 60
        self._workers = settings.sweep_concurrency
        self._limit = settings.sweep_scan_limit
        self.lanes = Lanes()
        self._read_up_to: int | None = None
        self._taken: set[str] = set()
        self.stopped: str | None = None

    def now(self) -> int:
        return self._start_now + int(self._clock() - self._started)

    def refill(self) -> int:
        """Read what became due since the last read (everything due, the first time)."""
        room = self._limit - len(self.lanes)
        if room <= 0:
            return 0
        now = self.now()
        found = due_checks.due_checks(self._read_up_to, now, room)
        # Entries due in the same second as the last read but written after it wait for the next
        # run; reading from here on never reads one twice.
        self._read_up_to = found[-1].next_check_at if len(found) == room else now
        self.lanes.add(found)
        return len(found)

    def run(self) -> None:
        self.refill()
        if not len(self.lanes):
            return
        # The period counts from the first check: reading a long backlog must not eat it.
        last_read = self._period_from = self._clock()
        with ThreadPoolExecutor(max_workers=self._workers, thread_name_prefix="sweep") as pool:
            running: set[Future[str]] = set()
            while True:
                if self._clock() - last_read >= REFRESH_SECONDS and self._within_period():
                    self.refill()
                    last_read = self._clock()
                while len(running) < self._workers and len(self.lanes):
                    # A run lasts one period at most: the next one reads the index afresh, so
                    # a check that became due meanwhile never waits behind a long backlog.
                    self.stopped = None if self._within_period() else "period"
                    if not self._time_left():
                        self.stopped = "time"
                    if self.stopped:
                        break
                    entry = self.lanes.take()
                    assert entry is not None  # the lanes are not empty  # nosec B101
                    self._taken.add(entry.job_id)
                    running.add(pool.submit(self._check, entry, self.now()))
                if not running:
                    if self.stopped or not self._within_period() or not self.refill():
                        break
                    last_read = self._clock()
                    continue
                done, running = wait(running, timeout=REFRESH_SECONDS, return_when=FIRST_COMPLETED)
                for future in done:
                    self._report(future.result())

    def _within_period(self) -> bool:
        return self._clock() - self._period_from < self._period

    def oldest_overdue_seconds(self) -> int:
        """How long the oldest check this run left undone has been due (0: none). Read from the
        index's head, so checks never read (over the scan limit) count too; a job this run
        checked may still show there a moment with its old time (the index lags), so it is skipped."""
        now = self.now()
        heads = [e for e in due_checks.due_checks(None, now, _HEAD) if e.job_id not in self._taken]
        return max(0, now - heads[0].next_check_at) if heads else 0
