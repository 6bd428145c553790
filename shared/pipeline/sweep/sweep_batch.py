"""The sweep's batch: every due check, fairly between clients, as fast as the time budget allows.

- **Round-robin by client.** Due checks sit in one lane per client, each oldest first, and are
  taken one lane after another; a client seen for the first time joins the rotation at once. So
  one client's thousands of watched jobs cost another client's job a wait of one check per other
  client, not one per job.
- **Waiting jobs are the dispatcher's.** A `waiting` job needs no Magic Hour call, only its
  deadlines watched; all of them share one lane, so however many wait they take one client's share.
- **Read a page at a time.** The index is read one page (`PAGE`) at a time, the first checks
  start after the first page, and the next pages are read on a thread of their own while they
  run, through to what is due now (a pass): a slow read never holds back handing out checks. A
  lane holds at most `LANE_CAP` checks: what a client has beyond it stays in the index, and a new
  pass from the index's start reads it once the client's lane has half drained. So a huge backlog
  starts checking at once, memory stays bounded (lanes, not the backlog), and another client's
  check at the backlog's end is found within one pass's reads.
- **No fixed batch size.** The run checks `sweep_concurrency` jobs at once (each mostly waits on one
  Magic Hour GET) until nothing is due, its time budget ends, or it has run one sweep period (the
  next run reads the index afresh and carries on). At most `sweep_scan_limit` entries are held.
"""

from __future__ import annotations

import time
from collections import OrderedDict, deque
from collections.abc import Callable, Iterable
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from dataclasses import dataclass, field
from typing import Any

from pipeline.platform.settings import get_settings
from pipeline.store import due_checks
from pipeline.store.due_checks import DueCheck, PageKey

# Lane of every `waiting` job (no client id is empty).
WAITING_LANE = ""
# How often a run looks for checks that became due since its last pass.
REFRESH_SECONDS = 1.0
# Entries one read of the index takes: light ones (job, client, status, due time).
PAGE = 500
# Checks held per lane; the rest of that client's backlog waits in the index for the next pass.
LANE_CAP = 500
# How much of the index's head the overdue figure reads, to step over entries that lag.
_HEAD = 50


class Lanes:
    """Due checks by client, taken round-robin; each lane oldest first."""

    def __init__(self) -> None:
        self._lanes: OrderedDict[str, deque[DueCheck]] = OrderedDict()
        self._queued: set[str] = set()

    @staticmethod
    def lane_of(entry: DueCheck) -> str:
        return WAITING_LANE if entry.status == "waiting" else entry.client_id

    def add(self, entries: Iterable[DueCheck], cap: int | None = None) -> set[str]:
        """Queue `entries` (each once); the lanes that had no room for some (at `cap`)."""
        full: set[str] = set()
        for entry in entries:
            if entry.job_id in self._queued:
                continue
            lane = self.lane_of(entry)
            if cap is not None and self.size(lane) >= cap:
                full.add(lane)
                continue
            self._queued.add(entry.job_id)
            self._lanes.setdefault(lane, deque()).append(entry)
        return full

    def names(self) -> set[str]:
        return set(self._lanes)

    def size(self, lane: str) -> int:
        entries = self._lanes.get(lane)
        return len(entries) if entries else 0

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


@dataclass
class _Pass:
    """One read of the index through to what was due when it began, page by page."""

    after: int | None  # only checks due after this (None: from the index's start)
    upper: int
    start: PageKey | None = None
    full: set[str] = field(default_factory=set)  # lanes that left checks in the index


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
        self._pass: _Pass | None = None
        self._next_after: int | None = None  # where the next pass starts (None: the index's start)
        self._left_in_index: set[str] = set()  # lanes the last pass could not hold whole
        self._closing: set[str] = set()  # lanes owed a turn before a run past its period stops
        self._pass_ended = clock()
        self._taken: set[str] = set()
        self.stopped: str | None = None
        self.pages_read = 0

    def now(self) -> int:
        return self._start_now + int(self._clock() - self._started)

    def _next_read(self) -> _Pass | None:
        """The pass the next page belongs to (beginning one if none is open); None when there is
        nothing to read (no room, or nothing can have become due since the last pass)."""
        if self._limit - len(self.lanes) <= 0:
            return None
        if self._pass is None:
            upper = self.now()
            if self._next_after is not None and self._next_after >= upper:
                self._pass_ended = self._clock()  # nothing can have become due since the last pass
                return None
            self._pass = _Pass(after=self._next_after, upper=upper)
        return self._pass

    def _fetch(self, current: _Pass) -> tuple[list[DueCheck], PageKey | None]:
        size = min(PAGE, max(1, self._limit - len(self.lanes)))
        return due_checks.due_page(current.after, current.upper, current.start, size)

    def _apply(self, current: _Pass, page: tuple[list[DueCheck], PageKey | None]) -> int:
        """Queue a page read for `current`. A pass ends at the index's last page due by its start;
        the next one reads only what became due since, unless a lane left checks in the index
        (then from its start)."""
        found, current.start = page
        self.pages_read += 1
        fresh = [entry for entry in found if entry.job_id not in self._taken]
        current.full |= self.lanes.add(fresh, LANE_CAP)
        if current.start is None:
            self._pass = None
            self._pass_ended = self._clock()
            self._left_in_index = current.full
            if self._period_over():
                self._closing = self.lanes.names()  # each gets one more turn before the run stops
            # Entries due in the same second as the pass's end but written after it wait for the
            # next run; reading on from here never reads one twice.
            self._next_after = None if current.full else current.upper
        return len(found)

    def read_page(self) -> int:
        """Read the next page of the current pass, here and now: how many entries it found."""
        current = self._next_read()
        return 0 if current is None else self._apply(current, self._fetch(current))

    def _read_due(self) -> bool:
        """Whether the next page is worth reading now: a pass is open; or a lane that left checks
        in the index has half drained; or, with nothing left behind, a refresh has come."""
        if len(self.lanes) >= self._limit:
            return False
        if self._pass is not None:
            return True
        if self._left_in_index:
            return any(self.lanes.size(lane) < LANE_CAP // 2 for lane in self._left_in_index) or not len(
                self.lanes
            )
        return self._clock() - self._pass_ended >= REFRESH_SECONDS

    def _read_until_queued(self) -> bool:
        """With nothing queued: read until a check is, or the index has nothing more due now."""
        passes = 0
        while not len(self.lanes):
            if self._pass is None:
                passes += 1
                if passes > 1 and not self._left_in_index:
                    return False
            self.read_page()
        return True

    def run(self) -> None:
        if not self._read_until_queued():
            return
        # The period counts from the first check, which comes after one page however long the backlog.
        self._period_from = self._clock()
        with (
            ThreadPoolExecutor(max_workers=self._workers, thread_name_prefix="sweep") as pool,
            ThreadPoolExecutor(max_workers=1, thread_name_prefix="sweep-read") as reader,
        ):
            running: set[Future[Any]] = set()
            # The page being read beside the checks, and its pass: a read (slow on a long backlog,
            # ~1 s a page on moto) never holds back handing out checks.
            reading: tuple[Future[Any], _Pass] | None = None
            while True:
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
                    self._closing.discard(Lanes.lane_of(entry))
                    running.add(pool.submit(self._check, entry, self.now()))
                more = self._pass is not None or not self._period_over()
                if reading is None and not self.stopped and more and self._read_due():
                    current = self._next_read()
                    reading = None if current is None else (reader.submit(self._fetch, current), current)
                if not running and reading is None:
                    if self.stopped or not self._within_period():
                        break
                    if not len(self.lanes) and not self._read_until_queued():
                        break
                    continue
                pending = running | ({reading[0]} if reading else set())
                done, _ = wait(pending, timeout=REFRESH_SECONDS, return_when=FIRST_COMPLETED)
                for future in done:
                    if reading is not None and future is reading[0]:
                        self._apply(reading[1], future.result())
                        reading = None
                    else:
                        running.discard(future)
                        self._report(future.result())

    def _period_over(self) -> bool:
        return self._clock() - self._period_from >= self._period

    def _within_period(self) -> bool:
        """One period, or longer (within the time budget) while the pass open at its end is read
        through and then every lane it found has had one more turn: the next run reads from the
        index's start, so a pass over a long backlog cut at each period would never reach another
        client's check at its end. No new pass starts once the period is over."""
        return not self._period_over() or self._pass is not None or bool(self._closing)

    def oldest_overdue_seconds(self) -> int:
        """How long the oldest check this run left undone has been due (0: none). Read from the
        index's head, so checks never read (over the scan limit) count too; a job this run
        checked may still show there a moment with its old time (the index lags), so it is skipped."""
        now = self.now()
        heads = [e for e in due_checks.due_checks(None, now, _HEAD) if e.job_id not in self._taken]
        return max(0, now - heads[0].next_check_at) if heads else 0
