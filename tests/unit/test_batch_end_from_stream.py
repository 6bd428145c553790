"""A batch job's ending, read from the jobs table's stream, ends its batch when it was the last:
the move that ended the job tries the same right after its write, and this covers a function
that died between the two (docs/design.md "Cancel and batches")."""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import pytest

from pipeline.events import stream
from pipeline.platform import ids

ROOT = Path(__file__).resolve().parents[2]
BATCH_ID = ids.new_batch_id()


@pytest.fixture(autouse=True)
def sample_bucket(override_env: Callable[[Mapping[str, str]], None]) -> None:
    override_env({"OUTPUT_BUCKET_NAME": "magic-hour-pipeline-outputbucket"})


@pytest.fixture
def published(monkeypatch: pytest.MonkeyPatch) -> list[dict[str, Any]]:
    sent: list[dict[str, Any]] = []

    def put_events(entries: list[dict[str, Any]]) -> list[int]:
        sent.extend(entries)
        return []

    monkeypatch.setattr(stream.publish, "put_events", put_events)
    return sent


@pytest.fixture
def ended(monkeypatch: pytest.MonkeyPatch) -> list[tuple[str, str]]:
    calls: list[tuple[str, str]] = []

    def end_if_done(client_id: str, batch_id: str, now: str) -> bool:
        calls.append((client_id, batch_id))
        return True

    monkeypatch.setattr(stream.batches, "end_if_done", end_if_done)
    return calls


def _record(status: str, batch_id: str | None = BATCH_ID, sequence: str = "100") -> dict[str, Any]:
    sample = json.loads((ROOT / "events" / "events-stream-job-completed.json").read_text())
    record = dict(sample["Records"][0])
    new = record["dynamodb"]["NewImage"]
    new["status"] = {"S": status}
    if batch_id is not None:
        new["batch_id"] = {"S": batch_id}
        new["custom_id"] = {"S": "row-1"}
    record["dynamodb"]["SequenceNumber"] = sequence
    return record


@pytest.mark.parametrize("status", ["completed", "failed"])
def test_a_batch_jobs_ending_ends_its_batch_if_it_was_the_last(
    status: str, published: list[dict[str, Any]], ended: list[tuple[str, str]]
) -> None:
    assert stream.publish_records([_record(status)], "bus") == []
    assert ended == [("local", BATCH_ID)]
    assert len(published) == 1


def test_a_job_that_has_not_ended_or_has_no_batch_leaves_batches_alone(
    published: list[dict[str, Any]], ended: list[tuple[str, str]]
) -> None:
    assert stream.publish_records([_record("completed", batch_id=None), _record("rendering")], "bus") == []
    assert ended == []
    assert len(published) == 2


def test_a_batch_that_cannot_be_ended_now_brings_its_record_again(
    monkeypatch: pytest.MonkeyPatch, published: list[dict[str, Any]]
) -> None:
    def end_if_done(client_id: str, batch_id: str, now: str) -> bool:
        raise RuntimeError("DynamoDB unavailable")

    monkeypatch.setattr(stream.batches, "end_if_done", end_if_done)
    first, second = _record("completed", batch_id=None, sequence="100"), _record("completed", sequence="200")
    # The record before it gets out; this one is reported, so Lambda delivers it again.
    assert stream.publish_records([first, second], "bus") == ["200"]
    assert len(published) == 1
