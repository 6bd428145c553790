"""The downloader and the callbacks follow the one retry policy: the same boundaries from their own
settings, the same metric outcomes and log lines, each with its own give-up (the downloader fails
the job, the callbacks mark the callback failed). Fakes at the job store (tests/fakes.py) and the
retry queue; the handlers are the real functions/*/app.py."""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest
from aws_lambda_powertools.utilities.data_classes.sqs_event import SQSRecord
from fakes import Fakes, install

from pipeline.callbacks import callbacks
from pipeline.downloads import downloads
from pipeline.downloads.downloads import DOWNLOAD_FAILED
from pipeline.downloads.http_to_s3 import DownloadFailed, DownloadForbidden
from pipeline.jobs import retry_policy
from pipeline.jobs.retry_policy import RetryLater
from pipeline.models.job import Job, JobStatus
from pipeline.platform.timeutil import now_iso
from pipeline.store import redelivery as redelivery
from tests.handlers import load_app

ROOT = Path(__file__).resolve().parents[2]
DLQ = "https://sqs.us-east-1.amazonaws.com/123456789012/dead"


def _event_record(name: str) -> dict[str, Any]:
    record: dict[str, Any] = json.loads((ROOT / "events" / name).read_text())["Records"][0]
    return record


DOWNLOAD_RECORD = _event_record("downloader-sqs-batch.json")
CALLBACK_RECORD = _event_record("callback-sqs-batch.json")
JOB_ID = json.loads(DOWNLOAD_RECORD["body"])["job_id"]
CALLBACK_JOB_ID = json.loads(CALLBACK_RECORD["body"])["job_id"]


def _load(function: str, override_env: Callable[[Mapping[str, str]], None], **environment: str) -> ModuleType:
    override_env({"POWERTOOLS_METRICS_NAMESPACE": "test", **environment})
    return load_app(function)


@pytest.fixture
def fakes(monkeypatch: pytest.MonkeyPatch) -> Fakes:
    return install(monkeypatch)


@pytest.fixture
def queue(monkeypatch: pytest.MonkeyPatch) -> list[tuple[Any, ...]]:
    calls: list[tuple[Any, ...]] = []
    monkeypatch.setattr(
        redelivery, "delay_next_attempt", lambda arn, receipt, delay: calls.append(("delay", delay))
    )
    monkeypatch.setattr(
        redelivery, "dead_letter", lambda url, body, reason: calls.append(("dead_letter", url, body, reason))
    )
    return calls


@pytest.fixture
def outcomes(monkeypatch: pytest.MonkeyPatch) -> list[tuple[str, str]]:
    seen: list[tuple[str, str]] = []
    monkeypatch.setattr(
        retry_policy, "emit", lambda metric, **dims: seen.append((metric.name, dims["outcome"]))
    )
    return seen


@pytest.fixture
def downloader(override_env: Callable[[Mapping[str, str]], None]) -> ModuleType:
    return _load(
        "downloader",
        override_env,
        DOWNLOAD_RETRY_DELAYS_SECONDS="10,30",
        DOWNLOAD_MAX_ATTEMPTS="4",
        DOWNLOAD_DEAD_LETTER_QUEUE_URL=DLQ,
    )


@pytest.fixture
def callback_handler(override_env: Callable[[Mapping[str, str]], None]) -> ModuleType:
    return _load(
        "callback",
        override_env,
        CALLBACK_RETRY_DELAYS_SECONDS="5,7",
        CALLBACK_DEAD_LETTER_QUEUE_URL=DLQ,
    )


def _record(raw: dict[str, Any], attempt: int, body: str | None = None) -> SQSRecord:
    attributes = {**raw["attributes"], "ApproximateReceiveCount": str(attempt)}
    return SQSRecord({**raw, "attributes": attributes, "body": body or raw["body"]})


def _downloading_job(fakes: Fakes) -> None:
    now = now_iso()
    fakes.store.put(
        Job(
            job_id=JOB_ID,
            client_id="client-a",
            tool="face-swap",
            kind="video",
            status=JobStatus.DOWNLOADING,
            created_at=now,
            updated_at=now,
            project_id="p",
            output_count=1,
            downloads_queued=True,
        )
    )


def _failing_download(monkeypatch: pytest.MonkeyPatch, error: Exception) -> None:
    def process(task: Any, magic_hour: Any) -> None:
        raise error

    monkeypatch.setattr(downloads, "process", process)


# -- downloader: DOWNLOAD_RETRY_DELAYS_SECONDS=10,30 and DOWNLOAD_MAX_ATTEMPTS=4 --------------------


@pytest.mark.parametrize(("attempt", "delay"), [(1, 10), (2, 30), (3, 30)])
def test_downloader_retries_before_its_last_attempt(
    downloader, fakes, queue, outcomes, monkeypatch, attempt: int, delay: int
) -> None:
    _downloading_job(fakes)
    _failing_download(monkeypatch, DownloadFailed("HTTP 500"))
    with pytest.raises(RetryLater):
        downloader.handle_record(_record(DOWNLOAD_RECORD, attempt))
    assert queue == [("delay", delay)]
    assert fakes.store.jobs[JOB_ID].status is JobStatus.DOWNLOADING
    # Its message is alive: the sweep must not queue the output again meanwhile.
    assert fakes.store.jobs[JOB_ID].download_attempted_at is not None
    assert outcomes == [("Downloads", "attempt_failed")]


def test_downloader_fails_the_job_and_dead_letters_on_its_last_attempt(
    downloader, fakes, queue, outcomes, monkeypatch
) -> None:
    _downloading_job(fakes)
    _failing_download(monkeypatch, DownloadFailed("HTTP 500"))
    downloader.handle_record(_record(DOWNLOAD_RECORD, 4))  # returns: the record is deleted
    job = fakes.store.jobs[JOB_ID]
    assert job.status is JobStatus.FAILED
    assert job.error is not None
    assert job.error.code == DOWNLOAD_FAILED
    assert "after 4 attempts" in job.error.message
    assert job.failed_output_index == 0
    assert queue == [("dead_letter", DLQ, DOWNLOAD_RECORD["body"], "DownloadFailed: HTTP 500")]
    assert outcomes == [("Downloads", "attempt_failed"), ("Downloads", "dead_lettered")]


def test_downloader_parks_a_permanent_failure_at_once(
    downloader, fakes, queue, outcomes, monkeypatch
) -> None:
    _downloading_job(fakes)
    _failing_download(monkeypatch, DownloadForbidden("host not allowed"))
    downloader.handle_record(_record(DOWNLOAD_RECORD, 1))
    assert fakes.store.jobs[JOB_ID].status is JobStatus.FAILED
    assert queue == [("dead_letter", DLQ, DOWNLOAD_RECORD["body"], "host not allowed")]
    assert outcomes == [("Downloads", "dead_lettered")]


def test_downloader_dead_letters_a_message_that_is_no_task(downloader, fakes, queue, outcomes) -> None:
    downloader.handle_record(_record(DOWNLOAD_RECORD, 1, body='{"hello": 1}'))
    assert [call[0] for call in queue] == ["dead_letter"]
    assert "not a download task" in queue[0][3]
    assert fakes.store.writes == []


# -- callbacks: CALLBACK_RETRY_DELAYS_SECONDS=5,7, so three attempts --------------------------------


def _failing_callback(monkeypatch: pytest.MonkeyPatch) -> None:
    def deliver(task: Any) -> None:
        raise callbacks.CallbackFailed("HTTP 500")

    monkeypatch.setattr(callbacks, "deliver", deliver)


@pytest.mark.parametrize(("attempt", "delay"), [(1, 5), (2, 7)])
def test_callbacks_retry_before_their_last_attempt(
    callback_handler, fakes, queue, outcomes, monkeypatch, attempt: int, delay: int
) -> None:
    _failing_callback(monkeypatch)
    attempts: list[tuple[str, str, str | None]] = []
    monkeypatch.setattr(callbacks.job_store, "record_callback_attempt", lambda *a: attempts.append(a[:3]))
    with pytest.raises(RetryLater):
        callback_handler.handle_record(_record(CALLBACK_RECORD, attempt))
    assert queue == [("delay", delay)]
    assert attempts == [(CALLBACK_JOB_ID, "pending", "HTTP 500")]
    assert outcomes == [("Callbacks", "attempt_failed")]


def test_callbacks_give_up_and_dead_letter_on_their_last_attempt(
    callback_handler, fakes, queue, outcomes, monkeypatch
) -> None:
    _failing_callback(monkeypatch)
    attempts: list[tuple[str, str, str | None]] = []
    monkeypatch.setattr(callbacks.job_store, "record_callback_attempt", lambda *a: attempts.append(a[:3]))
    callback_handler.handle_record(_record(CALLBACK_RECORD, 3))
    assert attempts == [(CALLBACK_JOB_ID, "failed", "HTTP 500")]
    assert queue == [("dead_letter", DLQ, CALLBACK_RECORD["body"], "HTTP 500")]
    assert outcomes == [("Callbacks", "attempt_failed"), ("Callbacks", "dead_lettered")]


# -- one shape for both --------------------------------------------------------------------------


class RecordingLogger:
    def __init__(self) -> None:
        self.lines: list[tuple[str, str, set[str]]] = []

    def _line(self, level: str, message: str, extra: dict[str, Any] | None = None) -> None:
        self.lines.append((level, message, set(extra or {})))

    def warning(self, message: str, extra: dict[str, Any] | None = None) -> None:
        self._line("warning", message, extra)

    def error(self, message: str, extra: dict[str, Any] | None = None) -> None:
        self._line("error", message, extra)

    def exception(self, message: str, extra: dict[str, Any] | None = None) -> None:
        self._line("exception", message, extra)


def test_both_handlers_log_and_count_a_failed_schedule_the_same_way(
    downloader, callback_handler, fakes, queue, outcomes, monkeypatch
) -> None:
    _downloading_job(fakes)
    _failing_download(monkeypatch, DownloadFailed("HTTP 500"))
    _failing_callback(monkeypatch)
    monkeypatch.setattr(callbacks.job_store, "record_callback_attempt", lambda *a: None)
    shapes = {}
    for work, handler, raw, last in (
        ("download", downloader, DOWNLOAD_RECORD, 4),
        ("callback", callback_handler, CALLBACK_RECORD, 3),
    ):
        log = RecordingLogger()
        monkeypatch.setattr(retry_policy, "logger", log)
        outcomes.clear()
        with pytest.raises(RetryLater):
            handler.handle_record(_record(raw, 1))
        handler.handle_record(_record(raw, last))
        lines = [
            (level, message.replace(work, "WORK"), keys & {"attempt", "delay", "reason", "job_id"})
            for level, message, keys in log.lines
        ]
        shapes[work] = (lines, [outcome for _, outcome in outcomes])
    assert shapes["download"] == shapes["callback"]
    assert shapes["download"] == (
        [
            ("warning", "WORK attempt failed; will retry", {"attempt", "delay", "reason", "job_id"}),
            ("error", "WORK failed on its last attempt; dead-lettered", {"attempt", "reason", "job_id"}),
        ],
        ["attempt_failed", "attempt_failed", "dead_lettered"],
    )
