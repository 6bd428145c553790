"""Every log line about a job names its client as well (docs/runbook.md's Logs Insights queries
filter on `client_id`): the downloader and the callback function learn it from the job they read,
as their messages carry only the job id."""

from __future__ import annotations

from typing import Any

import pytest

from pipeline.callbacks import callbacks
from pipeline.downloads import downloads
from pipeline.models.job import Job, JobStatus
from pipeline.models.tasks import CallbackTask, DownloadTask
from pipeline.platform.observability import about_job, logger
from pipeline.platform.timeutil import now_iso
from tests.fakes import install


def _job(status: JobStatus, **changes: Any) -> Job:
    fields: dict[str, Any] = {
        "job_id": "job_1",
        "client_id": "client-a",
        "tool": "ai-voice-generator",
        "kind": "audio",
        "status": status,
        "created_at": now_iso(),
        "updated_at": now_iso(),
    }
    return Job(**{**fields, **changes})


@pytest.fixture(autouse=True)
def no_job_keys() -> Any:
    about_job(None)
    yield
    about_job(None)


def test_a_download_task_logs_the_jobs_client(monkeypatch: pytest.MonkeyPatch) -> None:
    fakes = install(monkeypatch)
    fakes.store.put(_job(JobStatus.COMPLETED))
    task = DownloadTask(job_id="job_1", project_id="p", kind="audio", index=0, url="https://x/y")
    downloads.process(task, None)  # type: ignore[arg-type]  # not downloading: dropped, logged
    assert logger.get_current_keys().get("client_id") == "client-a"


def test_a_callback_attempt_logs_the_jobs_client(monkeypatch: pytest.MonkeyPatch) -> None:
    fakes = install(monkeypatch)
    fakes.store.put(_job(JobStatus.COMPLETED, callback_state="delivered"))
    callbacks.deliver(CallbackTask(job_id="job_1", webhook_id="msg_1"))
    assert logger.get_current_keys().get("client_id") == "client-a"
