"""Only the dead-lettered download that failed a job may bring it back, and only after the
operator's redrive marked the job for it (a terminal status is otherwise final)."""

from __future__ import annotations

import pytest

from pipeline.downloads.downloads import DOWNLOAD_FAILED, _redriven
from pipeline.models.job import Job, JobError, JobStatus
from pipeline.models.tasks import DownloadTask


def _job(code: str, failed_index: int | None, redrive_index: int | None) -> Job:
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
        redrive_output_index=redrive_index,
    )


def _task(index: int) -> DownloadTask:
    return DownloadTask(
        job_id="job_x", project_id="p", kind="video", index=index, url="https://x.magichour.ai/a"
    )


@pytest.mark.parametrize(
    ("code", "failed_index", "redrive_index", "task_index", "revives"),
    [
        (DOWNLOAD_FAILED, 1, 1, 1, True),  # the failing output's own message, redriven
        (DOWNLOAD_FAILED, 1, None, 1, False),  # the same message, but no operator asked for it
        (DOWNLOAD_FAILED, 1, 0, 1, False),  # the operator redrove another output
        (DOWNLOAD_FAILED, 1, 1, 0, False),  # another output's retry still on the queue
        ("gave_up", None, 0, 0, False),  # the sweep gave up on the job
        ("gave_up", 0, 0, 0, False),
        (DOWNLOAD_FAILED, None, None, 0, False),
    ],
)
def test_only_the_failing_outputs_redriven_message_revives_the_job(
    code, failed_index, redrive_index, task_index, revives
) -> None:
    assert _redriven(_job(code, failed_index, redrive_index), _task(task_index)) is revives
