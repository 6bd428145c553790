"""A job whose charge Magic Hour never said reads it from the project when it settles
(pipeline.downloads.downloads.settled_charge), with the fakes of tests/fakes.py."""

from __future__ import annotations

from typing import Any, cast

import pytest

from pipeline.downloads import downloads
from pipeline.jobs import budgets
from pipeline.magic_hour.client import MagicHourClient
from pipeline.magic_hour.errors import MagicHourUnavailable
from pipeline.models.job import Job, JobStatus, StoredOutput
from pipeline.platform.timeutil import now_iso
from tests.fakes import Fakes, install

DAY = "2026-12-07"


class Projects:
    def __init__(self, answer: dict[str, Any] | Exception) -> None:
        self.answer = answer
        self.reads: list[str] = []

    def get_project(self, kind: str, project_id: str) -> dict[str, Any]:
        self.reads.append(project_id)
        if isinstance(self.answer, Exception):
            raise self.answer
        return self.answer


@pytest.fixture
def fakes(monkeypatch: pytest.MonkeyPatch) -> Fakes:
    monkeypatch.setattr(budgets, "utc_today", lambda: DAY)
    return install(monkeypatch)


def _downloaded(fakes: Fakes, **money: Any) -> Job:
    output = StoredOutput(
        index=0, s3_key="k", size_bytes=1, sha256="0" * 64, content_type="video/mp4", stored_at=now_iso()
    )
    job = Job(
        job_id="job_a",
        client_id="client-a",
        tool="face-swap",
        kind="video",
        status=JobStatus.DOWNLOADING,
        project_id="proj_1",
        created_at=now_iso(),
        updated_at=now_iso(),
        output_count=1,
        outputs={"0": output},
        budget_day=DAY,
        **money,
    )
    fakes.store.put(job)
    return job


@pytest.mark.parametrize(
    ("answer", "charged"),
    [
        ({"credits_charged": 90}, 90),  # Magic Hour's word
        ({"credits_charged": None}, 150),  # still silent: the estimate counts
        ({}, 150),
        (MagicHourUnavailable("down"), 150),
    ],
)
def test_an_unknown_charge_is_read_from_the_project_when_the_job_completes(
    fakes: Fakes, answer: dict[str, Any] | Exception, charged: int
) -> None:
    fakes.store.usage.days[("client-a", DAY)] = {"reserved": 150, "charged": 0, "jobs": 1}
    job = _downloaded(fakes, reserved_credits=150, counted_credits=0)
    projects = Projects(answer)
    done = downloads._complete_if_done(job, cast(MagicHourClient, projects))
    assert done.status is JobStatus.COMPLETED
    assert projects.reads == ["proj_1"]
    assert fakes.store.usage.day("client-a", DAY) == {"reserved": 0, "charged": charged, "jobs": 1}
    assert (done.counted_credits, done.reserved_credits) == (charged, None)


def test_a_known_charge_is_not_read_again(fakes: Fakes) -> None:
    fakes.store.usage.days[("client-a", DAY)] = {"reserved": 0, "charged": 150, "jobs": 1}
    job = _downloaded(fakes, counted_credits=150)
    projects = Projects({"credits_charged": 1})
    done = downloads._complete_if_done(job, cast(MagicHourClient, projects))
    assert done.status is JobStatus.COMPLETED
    assert projects.reads == []
    assert fakes.store.usage.day("client-a", DAY) == {"reserved": 0, "charged": 150, "jobs": 1}
