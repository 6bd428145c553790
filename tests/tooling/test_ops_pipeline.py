"""ops applies the pipeline's own rules: an operator's `fail` is the pipeline's move (with the fakes
of tests/fakes.py at the job store and queue seams), and `pipeline_env.bound` is how the pipeline's
code finds the stack ops resolved."""

from __future__ import annotations

import json
import os
from typing import Any

import pytest

from ops import jobs, pipeline_env, targets
from pipeline.jobs.callback_state import webhook_id_for
from pipeline.models.job import Job, JobStatus
from pipeline.platform import environment, observability
from pipeline.platform.settings import Settings, get_settings
from pipeline.platform.timeutil import now_iso
from tests.fakes import Fakes, install

JOB_ID = "job_0123456789abcdef0123456789abcdef"


def make_job(status: JobStatus, **changes: Any) -> Job:
    fields: dict[str, Any] = {
        "job_id": JOB_ID,
        "client_id": "client-a",
        "tool": "ai-voice-generator",
        "kind": "audio",
        "status": status,
        "created_at": now_iso(),
        "updated_at": now_iso(),
        "credits_charged": 20,
        "callback_url": "https://hooks.example.com/in",
    }
    return Job(**{**fields, **changes})


@pytest.fixture(autouse=True)
def fresh_settings() -> Any:
    # Settings are read once and cached: what a test's environment made them must not outlive it.
    environment.forget()
    yield
    environment.forget()


@pytest.fixture
def fakes(monkeypatch: pytest.MonkeyPatch) -> Fakes:
    return install(monkeypatch)


DAY = "2026-12-01"


def counted(fakes: Fakes, job: Job) -> Job:
    """`job` with its money as the pipeline left it: reserved before its project, else charged,
    and the client's day counters to match."""
    if job.status in (JobStatus.WAITING, JobStatus.SUBMITTING):
        job = job.model_copy(update={"reserved_credits": 20, "budget_day": DAY})
        fakes.store.usage.days[("client-a", DAY)] = {"reserved": 20, "charged": 0, "jobs": 0}
    else:
        job = job.model_copy(update={"counted_credits": 20, "budget_day": DAY})
        fakes.store.usage.days[("client-a", DAY)] = {"reserved": 0, "charged": 20, "jobs": 1}
    fakes.store.put(job)
    return job


def day(fakes: Fakes) -> dict[str, int]:
    return fakes.store.usage.day("client-a", DAY)


def ended_metrics(printed: str) -> list[dict[str, Any]]:
    records = [json.loads(line) for line in printed.splitlines() if line.startswith('{"_aws"')]
    return [record for record in records if "JobsEnded" in record]


def test_an_operators_fail_is_the_pipelines_failure(fakes: Fakes, capsys: pytest.CaptureFixture[str]) -> None:
    counted(fakes, make_job(JobStatus.RENDERING, project_id="p1", slot=2))
    failed = jobs.fail(JOB_ID, "Magic Hour lost the project")
    assert failed is not None
    assert failed.status is JobStatus.FAILED
    assert failed.error is not None
    assert (failed.error.code, failed.error.source) == ("operator_failed", "magic_hour")
    assert failed.error.message == "failed by an operator: Magic Hour lost the project"
    # The slot in the same write, and the dispatcher told at once.
    assert fakes.store.released_slots == [2]
    assert fakes.store.get_job(JOB_ID).slot is None  # type: ignore[union-attr]
    assert fakes.queues.wakeups == [0]
    # Magic Hour rendered (and charges) it: an operator's failure is no refund.
    assert day(fakes) == {"reserved": 0, "charged": 20, "jobs": 1}
    # Its callback owed, announced and marked queued, with the id the pipeline gives this ending.
    assert [task.webhook_id for task in fakes.queues.callbacks] == [webhook_id_for(failed)]
    stored = fakes.store.get_job(JOB_ID)
    assert stored is not None
    assert stored.callback_state == "pending"
    assert stored.callback_queued
    assert JOB_ID in fakes.store.next_checks  # watched until the callback settles
    # Counted as an ending.
    (ended,) = ended_metrics(capsys.readouterr().out)
    assert (ended["status"], ended["kind"]) == ("failed", "audio")


@pytest.mark.parametrize(
    ("status", "source", "after"),
    [
        # Nothing created: the reservation is released.
        (JobStatus.WAITING, "submit", {"reserved": 0, "charged": 0, "jobs": 0}),
        (JobStatus.SUBMITTING, "submit", {"reserved": 0, "charged": 0, "jobs": 0}),
        # Created: Magic Hour charges it whatever the operator says.
        (JobStatus.QUEUED, "magic_hour", {"reserved": 0, "charged": 20, "jobs": 1}),
        # Rendered and charged for good: a download's failure keeps its credits counted.
        (JobStatus.DOWNLOADING, "download", {"reserved": 0, "charged": 20, "jobs": 1}),
    ],
)
def test_whose_failure_it_is_follows_where_the_job_stood(
    fakes: Fakes, status: JobStatus, source: str, after: dict[str, int]
) -> None:
    extra: dict[str, Any] = {"fair_key": "00000001#x"} if status is JobStatus.WAITING else {}
    counted(fakes, make_job(status, callback_url=None, **extra))
    failed = jobs.fail(JOB_ID, "why")
    assert failed is not None
    assert failed.error is not None
    assert failed.error.source == source
    assert day(fakes) == after
    assert JOB_ID not in fakes.store.next_checks  # no callback owed: the sweep lets it go
    assert fakes.queues.callbacks == []
    assert fakes.queues.wakeups == []  # it held no slot


@pytest.mark.parametrize("status", [JobStatus.COMPLETED, JobStatus.FAILED, JobStatus.CANCELED])
def test_an_ended_job_is_never_changed(fakes: Fakes, status: JobStatus) -> None:
    counted(fakes, make_job(status))
    assert jobs.fail(JOB_ID, "why") is None
    assert fakes.store.writes == []
    assert day(fakes) == {"reserved": 0, "charged": 20, "jobs": 1}
    assert fakes.queues.callbacks == []


def test_the_operators_error_code_is_documented_for_clients() -> None:
    from pathlib import Path

    docs = (Path(__file__).resolve().parents[2] / "docs" / "api.md").read_text()
    assert f"| `{jobs.OPERATOR_FAILED}` |" in docs


def test_failing_an_unknown_job_says_so(fakes: Fakes) -> None:
    with pytest.raises(LookupError, match="no job"):
        jobs.fail(JOB_ID, "why")


def test_every_status_is_one_of_the_pipelines() -> None:
    assert set(jobs.STATUSES) == {status.value for status in JobStatus}
    assert {JobStatus(status) for status in jobs.ENDED} == {s for s in JobStatus if s.is_terminal}


# -- the seam -----------------------------------------------------------------------------------


WHERE = targets.Targets(
    jobs_table="t-JobsTable",
    clients_table="t-ClientsTable",
    callback_queue_url="http://sqs/cb",
    dispatch_queue_url="http://sqs/dispatch",
)


def test_every_target_the_pipeline_reads_is_one_of_its_settings() -> None:
    fields = set(Settings.model_fields)
    for variable in pipeline_env.VARIABLES.values():
        assert variable.lower() in fields
    assert set(pipeline_env.VARIABLES) <= set(targets.field_names())


def test_the_pipeline_sees_the_targets_while_bound_and_its_own_settings_after(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("JOBS_TABLE_NAME", "before")
    monkeypatch.setenv("DOWNLOAD_QUEUE_URL", "the operator's own")
    environment.forget()
    session = targets.Session("http://127.0.0.1:1", "eu-west-1", local_credentials=True)
    with pipeline_env.bound(session, WHERE):
        settings = get_settings()
        assert settings.jobs_table_name == "t-JobsTable"
        assert settings.clients_table_name == "t-ClientsTable"
        assert settings.dispatch_queue_url == "http://sqs/dispatch"
        # A target ops did not find is unset, never taken from the operator's environment.
        assert settings.download_queue_url is None
        assert os.environ["AWS_ENDPOINT_URL"] == "http://127.0.0.1:1"
        assert os.environ["AWS_REGION"] == "eu-west-1"
        assert os.environ["AWS_ACCESS_KEY_ID"] == "local"
    assert get_settings().jobs_table_name == "before"
    assert os.environ["DOWNLOAD_QUEUE_URL"] == "the operator's own"
    assert os.environ.get("AWS_ENDPOINT_URL") != "http://127.0.0.1:1"


class FakeCloudWatch:
    def __init__(self) -> None:
        self.calls: list[dict[str, Any]] = []

    def put_metric_data(self, **request: Any) -> None:
        self.calls.append(request)


def test_what_the_pipeline_prints_goes_to_stderr_and_its_metrics_to_cloudwatch(
    capsys: pytest.CaptureFixture[str],
) -> None:
    cloudwatch = FakeCloudWatch()
    session = targets.Session("http://127.0.0.1:1", "us-east-1")
    with pipeline_env.bound(session, WHERE, metrics=cloudwatch):
        observability.job_ended("failed", "audio", "2026-12-01T00:00:00.000Z", "2026-12-01T00:01:00.000Z", 20)
        print("not a metric")
    captured = capsys.readouterr()
    assert captured.out == ""
    assert "not a metric" in captured.err
    (call,) = cloudwatch.calls
    assert call["Namespace"] == observability.NAMESPACE
    ended = [d for d in call["MetricData"] if d["MetricName"] == "JobsEnded"]
    # Each dimension set, as CloudWatch extracts them from an EMF record.
    assert sorted(tuple(x["Name"] for x in d["Dimensions"]) for d in ended) == [
        (),
        ("status",),
        ("status", "kind"),
    ]
    assert all(d["Values"] == [1.0] and d["Unit"] == "Count" for d in ended)
    duration = next(d for d in call["MetricData"] if d["MetricName"] == "JobDuration")
    assert duration["Values"] == [60.0]
    credits = next(d for d in call["MetricData"] if d["MetricName"] == "CreditsCharged")
    assert credits["Values"] == [20.0]


def test_a_metrics_failure_does_not_fail_the_command(capsys: pytest.CaptureFixture[str]) -> None:
    class Refusing:
        def put_metric_data(self, **_: Any) -> None:
            raise RuntimeError("throttled")

    with pipeline_env.bound(targets.Session(None, "us-east-1"), WHERE, metrics=Refusing()):
        observability.emit(observability.SLOTS_RECLAIMED)
    assert "metrics not published (RuntimeError)" in capsys.readouterr().err
