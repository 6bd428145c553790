"""Only the dead-lettered download that failed a job may bring it back (after a redrive)."""

from __future__ import annotations

import pytest

from pipeline.downloads.downloads import DOWNLOAD_FAILED, _redriven
from pipeline.models.job import Job, JobError, JobStatus
from pipeline.models.tasks import DownloadTask


def _job(code: str, failed_index: int | None) -> Job:
    return Job(
        job_id="job_x",
        client_id="c",
        tool="face-swap",
        kind="video",
        status=JobStatus.FAILED,
        created_at="2026-11-23T00:00:00.000Z",
        updated_at="2026-11-23T00:00:00.000Z",
        error=JobError(code=code, message="m", source="download"),
        failed_output_index=failed_index,
    )


def _task(index: int) -> DownloadTask:
    return DownloadTask(
        job_id="job_x", project_id="p", kind="video", index=index, url="https://x.magichour.ai/a"
    )


@pytest.mark.parametrize(
    ("code", "failed_index", "task_index", "revives"),
    [
        (DOWNLOAD_FAILED, 1, 1, True),  # the failing output's own message, redriven
        (DOWNLOAD_FAILED, 1, 0, False),  # another output's retry still on the queue
        ("gave_up", None, 0, False),  # the sweep gave up on the job
        (DOWNLOAD_FAILED, None, 0, False),
    ],
)
def test_only_the_failing_outputs_message_revives_the_job(code, failed_index, task_index, revives) -> None:
    assert _redriven(_job(code, failed_index), _task(task_index)) is revives
