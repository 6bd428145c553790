"""The sweep function's resumption of batches left `validating` (submit/batch_resume.py): which
batches it looks at, that it resumes each from the item itself, and that one bad batch or the
end of its time stops nothing else."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

import pytest

from pipeline.platform.settings import get_settings
from pipeline.platform.timeutil import iso
from pipeline.store import batch_counts
from pipeline.submit import batch_resume

NOW = 1_796_644_800  # 2026-12-07T12:00:00Z


class Batches:
    """The batch items the fakes hold, and what was asked of them."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch, items: dict[str, dict[str, Any]]) -> None:
        self.items = items
        self.asked_before: list[str] = []
        self.resumed: list[str] = []
        self.broken: set[str] = set()
        monkeypatch.setattr(batch_resume.batch_store, "stuck_validating", self.stuck_validating)
        monkeypatch.setattr(batch_resume.batch_store, "get_batch", self.get_batch)
        monkeypatch.setattr(batch_resume.batches, "resume", self.resume)

    def stuck_validating(self, created_before: str, limit: int) -> list[dict[str, Any]]:
        self.asked_before.append(created_before)
        keys = [
            {"client_id": item["client_id"], "item": batch_counts.batch_item(batch_id)}
            for batch_id, item in self.items.items()
        ]
        return keys[:limit]

    def get_batch(self, client_id: str, batch_id: str) -> dict[str, Any] | None:
        item = self.items.get(batch_id)
        return item if item is not None and item["client_id"] == client_id else None

    def resume(self, item: dict[str, Any], time_left: Callable[[], bool]) -> dict[str, Any]:
        if item["batch_id"] in self.broken:
            raise RuntimeError("the manifest's copy could not be read")
        self.resumed.append(item["batch_id"])
        return {**item, "status": "running" if time_left() else "validating"}


def _item(batch_id: str, status: str = "validating") -> dict[str, Any]:
    return {"client_id": "client-alpha", "batch_id": batch_id, "status": status, "jobs_written": 100}


def test_batches_validating_a_sweep_period_after_their_creation_are_resumed(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    fake = Batches(monkeypatch, {"batch_a": _item("batch_a"), "batch_b": _item("batch_b")})
    report = batch_resume.resume_stuck(NOW, lambda: True)
    assert fake.resumed == ["batch_a", "batch_b"]
    assert (report.resumed, report.unfinished, report.errors) == (2, 0, 0)
    # Created at least one SweepBackoffBaseSeconds ago (60 s by default).
    base = get_settings().sweep_backoff_base_seconds
    assert fake.asked_before == [iso(datetime.fromtimestamp(NOW - base, UTC))]


def test_a_batch_that_moved_since_the_index_was_read_is_left_alone(monkeypatch: pytest.MonkeyPatch) -> None:
    fake = Batches(monkeypatch, {"batch_a": _item("batch_a", "running")})
    report = batch_resume.resume_stuck(NOW, lambda: True)
    assert fake.resumed == []
    assert (report.resumed, report.unfinished, report.errors) == (0, 0, 0)


def test_one_batch_that_cannot_be_resumed_stops_no_other(monkeypatch: pytest.MonkeyPatch) -> None:
    fake = Batches(monkeypatch, {"batch_a": _item("batch_a"), "batch_b": _item("batch_b")})
    fake.broken.add("batch_a")
    report = batch_resume.resume_stuck(NOW, lambda: True)
    assert fake.resumed == ["batch_b"]
    assert (report.resumed, report.unfinished, report.errors) == (1, 0, 1)


def test_without_time_left_nothing_is_started_and_it_is_counted_unfinished(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    fake = Batches(monkeypatch, {"batch_a": _item("batch_a")})
    report = batch_resume.resume_stuck(NOW, lambda: False)
    assert fake.resumed == []
    assert (report.resumed, report.unfinished, report.errors) == (0, 1, 0)
