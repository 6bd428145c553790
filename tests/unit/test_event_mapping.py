"""From a jobs-table stream record (or a batch that ended) to the event on the bus: what is an
event, what it carries (never a presigned URL), and that the schema and samples in docs/ and
events/ say the same as the code."""

from __future__ import annotations

import copy
import json
from collections.abc import Callable, Mapping
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from jsonschema import Draft202012Validator

from pipeline.events import mapping, stream
from pipeline.events.models import EventJob, EventOutput
from pipeline.events.schema import SCHEMA_FILES, event_schema
from pipeline.models.api import JobResource, OutputResource

ROOT = Path(__file__).resolve().parents[2]
EVENTS = ROOT / "events"
SCHEMAS = ROOT / "docs" / "schemas"
# What python -m scripts.make_event_samples names the output bucket.
SAMPLE_BUCKET = "magic-hour-pipeline-outputbucket"


@pytest.fixture(autouse=True)
def sample_bucket(override_env: Callable[[Mapping[str, str]], None]) -> None:
    override_env({"OUTPUT_BUCKET_NAME": SAMPLE_BUCKET})


def _sample(name: str) -> dict[str, Any]:
    return dict(json.loads((EVENTS / name).read_text()))


def _completed_record() -> dict[str, Any]:
    return dict(_sample("events-stream-job-completed.json")["Records"][0])


def test_the_stream_sample_maps_to_the_bridge_sample() -> None:
    detail = mapping.job_status_changed(_completed_record())
    assert detail is not None
    expected = _sample("events-bridge-job-status-changed.json")["detail"]
    assert json.loads(detail.model_dump_json()) == expected
    assert expected["previous_status"] == "downloading"
    assert expected["job"]["status"] == "completed"
    assert expected["client_id"] == "local"
    assert expected["job"]["outputs"][0]["s3_uri"].startswith(f"s3://{SAMPLE_BUCKET}/jobs/")


def test_an_event_carries_no_download_url() -> None:
    detail = mapping.job_status_changed(_completed_record())
    assert detail is not None
    text = detail.model_dump_json()
    assert detail.job.outputs, "the sample job has an output, so its place is shown"
    for word in ("download_url", "X-Amz-", "Signature", "https://"):
        assert word not in text


def test_the_event_job_is_the_api_job_resource_without_download_urls() -> None:
    # A field added to the API's job resource must be decided for events too.
    assert set(EventJob.model_fields) == set(JobResource.model_fields)
    assert set(EventOutput.model_fields) == set(OutputResource.model_fields) - {
        "download_url",
        "download_url_expires_at",
    }


def test_a_new_job_is_its_first_status() -> None:
    record = _completed_record()
    record["eventName"] = "INSERT"
    del record["dynamodb"]["OldImage"]
    detail = mapping.job_status_changed(record)
    assert detail is not None
    assert detail.previous_status is None
    assert detail.job.status == "completed"


def test_a_write_that_keeps_the_status_is_no_event() -> None:
    record = _completed_record()
    record["dynamodb"]["OldImage"] = copy.deepcopy(record["dynamodb"]["NewImage"])
    record["dynamodb"]["OldImage"]["callback_attempts"] = {"N": "3"}
    assert mapping.job_status_changed(record) is None


def test_a_removed_job_is_no_event() -> None:
    record = _completed_record()
    record["eventName"] = "REMOVE"
    del record["dynamodb"]["NewImage"]
    assert mapping.job_status_changed(record) is None


def test_an_unreadable_job_is_refused_not_skipped() -> None:
    record = _completed_record()
    record["dynamodb"]["NewImage"]["status"] = {"S": "exploded"}
    with pytest.raises(mapping.NotAJob):
        mapping.job_status_changed(record)
    # The batch reports that record (it is retried, then sent to the on-failure queue), and
    # publishes nothing before it, as nothing precedes it.
    assert stream.publish_records([record], "bus") == [record["dynamodb"]["SequenceNumber"]]


def test_the_entry_names_the_bus_and_the_change_time() -> None:
    detail = mapping.job_status_changed(_completed_record())
    assert detail is not None
    entry = mapping.entry(detail, "magic-hour-pipeline")
    assert entry["Source"] == "magic-hour-pipeline"
    assert entry["DetailType"] == "Job Status Changed"
    assert entry["EventBusName"] == "magic-hour-pipeline"
    assert entry["Time"] == datetime(2026, 11, 23, 6, 0, 41, tzinfo=UTC)
    assert json.loads(entry["Detail"]) == json.loads(detail.model_dump_json())


def _batch(status: str) -> dict[str, Any]:
    batch = _sample("events-bridge-batch-ended.json")["detail"]["batch"]
    return {**batch, "status": status, "results_url": "https://bucket.s3.amazonaws.com/r?X-Amz-Signature=x"}


@pytest.mark.parametrize(
    ("previous", "status"), [("running", "completed"), ("validating", "rejected"), ("running", "canceled")]
)
def test_a_batch_ending_is_an_event_without_its_results_url(previous: str, status: str) -> None:
    ended = mapping.batch_ended(previous, _batch(status), "client-alpha")
    assert ended is not None
    assert ended.client_id == "client-alpha"
    assert ended.batch.status == status
    assert "results_url" not in ended.model_dump_json()
    assert "X-Amz-" not in ended.model_dump_json()
    assert mapping.entry(ended, "bus")["DetailType"] == "Batch Ended"


@pytest.mark.parametrize(("previous", "status"), [("validating", "running"), ("completed", "completed")])
def test_a_batch_that_did_not_just_end_is_no_event(previous: str, status: str) -> None:
    assert mapping.batch_ended(previous, _batch(status), "client-alpha") is None


def test_a_batch_read_back_from_dynamodb_has_plain_numbers() -> None:
    from decimal import Decimal

    batch = _batch("completed")
    batch["counts"] = {key: Decimal(value) for key, value in batch["counts"].items()}
    batch["credits_charged"] = Decimal(10)
    ended = mapping.batch_ended("running", batch, "client-alpha")
    assert ended is not None
    assert json.loads(ended.model_dump_json())["batch"]["counts"]["completed"] == 2


@pytest.mark.parametrize("detail_type", sorted(SCHEMA_FILES))
def test_the_schemas_in_docs_are_the_models(detail_type: str) -> None:
    written = json.loads((SCHEMAS / SCHEMA_FILES[detail_type]).read_text())
    assert written == event_schema(detail_type), "run python scripts/make_event_schemas.py"


@pytest.mark.parametrize(
    ("sample", "detail_type"),
    [
        ("events-bridge-job-status-changed.json", "Job Status Changed"),
        ("events-bridge-batch-ended.json", "Batch Ended"),
    ],
)
def test_the_samples_match_their_schema(sample: str, detail_type: str) -> None:
    validator = Draft202012Validator(event_schema(detail_type))
    validator.validate(_sample(sample))
    # The schema bites: a download URL smuggled into an output is refused.
    if detail_type == "Job Status Changed":
        bad = _sample(sample)
        bad["detail"]["job"]["outputs"][0]["download_url"] = "https://example/x"
        assert not validator.is_valid(bad)


def _submitting_record(
    old_status: str | None, sent_at: int, written_at: int, **new: dict[str, str]
) -> dict[str, Any]:
    """A job stored `submitting` whose create was sent at `sent_at`, written at `written_at`."""
    record = _completed_record()
    image = record["dynamodb"]["NewImage"]
    for name in ("outputs", "output_count", "project_id"):
        image.pop(name, None)
    image.update({"status": {"S": "submitting"}, "create_sent_at": {"N": str(sent_at)}, **new})
    record["dynamodb"]["ApproximateCreationDateTime"] = written_at
    if old_status is None:
        del record["dynamodb"]["OldImage"]
    else:
        record["dynamodb"]["OldImage"] = {**copy.deepcopy(image), "status": {"S": old_status}}
    return record


def test_a_create_in_flight_is_announced_as_clients_see_it_waiting() -> None:
    # Written at the send: clients see `waiting` until the create's outcome is known.
    inserted = mapping.job_status_changed(_submitting_record(None, sent_at=1000, written_at=1000))
    assert inserted is not None
    assert (inserted.previous_status, inserted.job.status) == (None, "waiting")
    # waiting -> submitting (stored), still in flight: nothing a client could see changed.
    assert mapping.job_status_changed(_submitting_record("waiting", sent_at=1000, written_at=1000)) is None


def test_a_create_answered_429_is_no_step_back() -> None:
    record = _submitting_record("waiting", sent_at=1000, written_at=1001)
    # The answer takes the stored status back to waiting: the new image is `waiting`, the old
    # one the in-flight `submitting` (shown `waiting`).
    record["dynamodb"]["OldImage"], record["dynamodb"]["NewImage"] = (
        copy.deepcopy(record["dynamodb"]["NewImage"]),
        {**record["dynamodb"]["NewImage"], "status": {"S": "waiting"}},
    )
    record["dynamodb"]["NewImage"].pop("create_sent_at")
    record["dynamodb"]["NewImage"]["fair_key"] = {"S": "0001#2026"}
    assert mapping.job_status_changed(record) is None


def test_an_unknown_create_outcome_is_announced_submitting() -> None:
    record = _submitting_record(
        "waiting", sent_at=1000, written_at=1020, create_outcome_unknown={"BOOL": True}
    )
    record["dynamodb"]["OldImage"]["create_outcome_unknown"] = {"BOOL": False}
    detail = mapping.job_status_changed(record)
    assert detail is not None
    assert (detail.previous_status, detail.job.status) == ("waiting", "submitting")


def test_an_item_that_is_not_a_job_is_not_mistaken_for_one() -> None:
    # Another kind of item in the table (a batch's, say) is not an unreadable job: no event, and
    # nothing that would hold the shard back.
    record = _completed_record()
    record["dynamodb"]["NewImage"] = {"job_id": {"S": "batch#batch_7hQ2"}, "status": {"S": "running"}}
    del record["dynamodb"]["OldImage"]
    assert mapping.job_status_changed(record) is None
    assert stream.publish_records([record], "bus") == []
