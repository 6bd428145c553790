"""Whose failure it is when the sweep gives up on a job or an operator fails it: one rule
(pipeline.models.job.failure_source), by where the job stood."""

from __future__ import annotations

import pytest

from pipeline.models.job import JobStatus, failure_source


@pytest.mark.parametrize(
    ("status", "source"),
    [
        (JobStatus.WAITING, "submit"),  # Magic Hour never had it: ours
        (JobStatus.SUBMITTING, "submit"),
        (JobStatus.QUEUED, "magic_hour"),
        (JobStatus.RENDERING, "magic_hour"),
        (JobStatus.DOWNLOADING, "download"),  # rendered and charged: the download's, no refund
    ],
)
def test_a_job_failed_for_no_reason_of_its_own_is_blamed_on_where_it_stood(
    status: JobStatus, source: str
) -> None:
    assert failure_source(status) == source
