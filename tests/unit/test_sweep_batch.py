"""The sweep's batch (logic/sweep_batch.py): round-robin by client, waiting jobs in one lane, no
fixed size, newly due checks read as it goes, and the oldest overdue check it leaves."""

from __future__ import annotations

import threading
from typing import Any

import pytest

from pipeline.platform.settings import get_settings
from pipeline.store import due_checks
from pipeline.store.due_checks import DueCheck
from pipeline.sweep import sweep_batch
from pipeline.sweep.sweep_batch import Batch, Lanes

SETTINGS = get_settings()


def entry(job_id: str, client: str, due: int = 0, status: str = "rendering") -> DueCheck:
    return DueCheck(job_id, client, status, due)


def test_lanes_go_round_robin_between_clients_each_oldest_first() -> None:
    lanes = Lanes()
    lanes.add([entry(f"a{n}", "A", n) for n in range(5)] + [entry("b0", "B", 10), entry("b1", "B", 11)])
    lanes.add([entry("c0", "C", 20), entry("a0", "A", 0)])  # a0 is queued already: not twice
    taken = [e.job_id for e in iter(lanes.take, None)]
    assert taken == ["a0", "b0", "c0", "a1", "b1", "a2", "a3", "a4"]


def test_all_waiting_jobs_share_one_turn() -> None:
    lanes = Lanes()
    lanes.add([entry(f"w{n}", f"client-{n}", n, "waiting") for n in range(3)] + [entry("b0", "B", 9)])
    assert [e.job_id for e in iter(lanes.take, None)] == ["w0", "b0", "w1", "w2"]


class Index:
    """The sweep's index: entries due by a time; a check postpones its job (it leaves the due set)."""

    def __init__(self, entries: list[DueCheck]) -> None:
        self.entries = {e.job_id: e for e in entries}
        self.lock = threading.Lock()
        self.reads: list[tuple[int | None, int, int]] = []
        self.pages: list[tuple[int | None, int, int]] = []
        self.pages_at_check: dict[str, int] = {}  # pages read when each job was checked

    def due(self, after: int | None, now: int, limit: int) -> list[DueCheck]:
        with self.lock:
            self.reads.append((after, now, limit))
            found = sorted(
                (
                    e
                    for e in self.entries.values()
                    if e.next_check_at <= now and (after is None or e.next_check_at > after)
                ),
                key=lambda e: e.next_check_at,
            )
            return found[:limit]

    def page(self, after: int | None, now: int, start: Any, size: int) -> tuple[list[DueCheck], Any]:
        """One page as the index's key orders it (due time, job id), after `start`."""
        with self.lock:
            self.pages.append((after, now, size))
        found = sorted(self.due(after, now, 10**9), key=lambda e: (e.next_check_at, e.job_id))
        if start is not None:
            found = [e for e in found if (e.next_check_at, e.job_id) > start]
        chunk = found[:size]
        return chunk, ((chunk[-1].next_check_at, chunk[-1].job_id) if len(found) > size else None)

    def checked(self, job_id: str) -> None:
        with self.lock:
            self.entries.pop(job_id, None)
            self.pages_at_check[job_id] = len(self.pages)


def run_batch(monkeypatch: pytest.MonkeyPatch, index: Index, **settings: object) -> tuple[Batch, list[str]]:
    monkeypatch.setattr(due_checks, "due_checks", index.due)
    monkeypatch.setattr(due_checks, "due_page", index.page)
    monkeypatch.setattr(sweep_batch, "get_settings", lambda: SETTINGS.model_copy(update=settings))
    order: list[str] = []

    def check(e: DueCheck, now: int) -> str:
        index.checked(e.job_id)
        return "unchanged"

    batch = Batch(1000, check, order.append, lambda: True)
    original = batch.lanes.take

    def take() -> DueCheck | None:
        taken = original()
        if taken is not None:
            order.append(taken.job_id)
        return taken

    monkeypatch.setattr(batch.lanes, "take", take)
    batch.run()
    return batch, [o for o in order if o != "unchanged"]


def test_one_clients_thousands_of_due_checks_cost_another_client_one_turn(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # A's 3,000 checks are all older than B's one; B's waits for the pages before it, read beside
    # the checks (here instant, so as many run as the reads take), never for A's 3,000 checks.
    index = Index([entry(f"a{n}", "A", n // 4) for n in range(3000)] + [entry("b", "B", 999)])
    batch, order = run_batch(monkeypatch, index, sweep_concurrency=1)
    assert order[0] == "a0"
    assert "b" in order[:2999], order.index("b")  # first-come, it was the last
    assert pages_when(index, "b") <= 3000 // sweep_batch.PAGE + 2  # within one pass's reads
    assert len(order) == 3001  # no fixed batch size: everything due is checked
    assert batch.oldest_overdue_seconds() == 0


def test_a_huge_backlog_starts_checking_after_one_page_and_holds_a_lane_at_most(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # A's 10,000 due checks: the first check comes after one read of one page, and however far
    # the reads go, A's lane never holds more than LANE_CAP (memory bounded, not the backlog).
    index = Index([entry(f"a{n:05d}", "A", n // 10) for n in range(10_000)] + [entry("b", "B", 999)])
    monkeypatch.setattr(due_checks, "due_checks", index.due)
    monkeypatch.setattr(due_checks, "due_page", index.page)
    monkeypatch.setattr(
        sweep_batch, "get_settings", lambda: SETTINGS.model_copy(update={"sweep_concurrency": 4})
    )
    pages_at_first_check: list[int] = []
    most_held: list[int] = [0]
    order: list[str] = []
    lock = threading.Lock()

    def check(e: DueCheck, now: int) -> str:
        with lock:
            if not pages_at_first_check:
                pages_at_first_check.append(len(index.pages))
            order.append(e.job_id)
        index.checked(e.job_id)
        return "unchanged"

    batch = Batch(1000, check, lambda outcome: None, lambda: True)
    original = batch.read_page

    def read_page() -> int:
        found = original()
        most_held[0] = max(most_held[0], len(batch.lanes))
        return found

    monkeypatch.setattr(batch, "read_page", read_page)
    batch.run()
    assert pages_at_first_check == [1]
    assert index.pages[0][2] <= sweep_batch.PAGE
    assert most_held[0] <= sweep_batch.LANE_CAP + 1  # A's lane, and B's one check
    assert sorted(order) == sorted([*index_ids(10_000), "b"])
    # B's check joins the rotation once the pass's reads (beside the checks) reach it: never
    # behind A's backlog (first-come, it was the last of 10,001).
    assert order.index("b") < 9_000, order.index("b")
    assert pages_when(index, "b") <= 10_000 // sweep_batch.PAGE + 2  # within one pass's reads
    assert batch.oldest_overdue_seconds() == 0


def pages_when(index: Index, job_id: str) -> int:
    return index.pages_at_check[job_id]


def index_ids(count: int) -> list[str]:
    return [f"a{n:05d}" for n in range(count)]


def test_what_the_scan_limit_leaves_is_read_as_room_frees(monkeypatch: pytest.MonkeyPatch) -> None:
    index = Index([entry(f"a{n}", "A", n) for n in range(50)])
    _, order = run_batch(monkeypatch, index, sweep_concurrency=4, sweep_scan_limit=10)
    assert sorted(order) == sorted(f"a{n}" for n in range(50))
    assert index.pages[0] == (None, 1000, 10)


def test_a_run_cut_short_reports_its_oldest_overdue_check(monkeypatch: pytest.MonkeyPatch) -> None:
    index = Index([entry(f"a{n}", "A", 100 + n) for n in range(5)])
    monkeypatch.setattr(due_checks, "due_checks", index.due)
    monkeypatch.setattr(due_checks, "due_page", index.page)
    monkeypatch.setattr(
        sweep_batch, "get_settings", lambda: SETTINGS.model_copy(update={"sweep_concurrency": 1})
    )
    budget = iter([True, True, False])
    batch = Batch(
        1000,
        lambda e, now: (index.checked(e.job_id), "unchanged")[1],
        lambda outcome: None,
        lambda: next(budget),
    )
    batch.run()
    assert batch.stopped == "time"
    assert len(index.entries) == 3
    assert batch.oldest_overdue_seconds() == 1000 - 102


def test_a_pass_longer_than_a_period_is_read_to_its_end_before_the_run_stops(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # Reads slower than the period (moto under load: each page ~1-2 s, 20 pages for A's 10,000):
    # cut at each period, every run would start again at the index's head and never reach B's
    # check at the backlog's end. The run reads its pass to the end first (its time budget bounds it).
    index = Index([entry(f"a{n:05d}", "A", n // 10) for n in range(4000)] + [entry("b", "B", 999)])
    clock = {"now": 0.0}
    paged = index.page

    def slow_page(after: int | None, now: int, start: Any, size: int) -> tuple[list[DueCheck], Any]:
        clock["now"] += 10.0  # a page takes 10 s: the pass of 8 pages, 80 s, outlasts the 60 s period
        return paged(after, now, start, size)

    monkeypatch.setattr(due_checks, "due_checks", index.due)
    monkeypatch.setattr(due_checks, "due_page", slow_page)
    monkeypatch.setattr(
        sweep_batch,
        "get_settings",
        lambda: SETTINGS.model_copy(update={"sweep_concurrency": 2, "sweep_interval_minutes": 1}),
    )
    checked: list[str] = []

    def check(e: DueCheck, now: int) -> str:
        checked.append(e.job_id)
        index.checked(e.job_id)
        return "unchanged"

    batch = Batch(1000, check, lambda outcome: None, lambda: True, clock=lambda: clock["now"])
    batch.run()
    assert "b" in checked
    assert batch.stopped == "period"  # it did stop, once the pass had ended
