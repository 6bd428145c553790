"""From a clients-table stream record to `Batch Ended`: only a batch item whose status moved into
an ending is an event; every other clients-table write (profiles, usage, a job's count move)
publishes nothing."""

from __future__ import annotations

from typing import Any

import pytest
from boto3.dynamodb.types import TypeSerializer

from pipeline.events import mapping, stream
from pipeline.models.job import JobStatus
from pipeline.platform import ids
from pipeline.store import batch_counts

_SERIALIZER = TypeSerializer()
BATCH_ID = ids.new_batch_id()


def _item(status: str, completed: int = 0, canceled: int = 0) -> dict[str, Any]:
    return {
        "client_id": "client-alpha",
        "item": batch_counts.batch_item(BATCH_ID),
        "batch_id": BATCH_ID,
        "status": status,
        "total": 2,
        batch_counts.count_field(JobStatus.WAITING): 2 - completed - canceled,
        batch_counts.count_field(JobStatus.COMPLETED): completed,
        batch_counts.count_field(JobStatus.CANCELED): canceled,
        "metadata_json": '{"run": "nightly"}',
        "created_at": "2026-12-07T12:00:00Z",
        "updated_at": "2026-12-07T12:00:05Z",
        **({"ended_at": "2026-12-07T12:00:05Z"} if status in mapping.BATCH_ENDINGS else {}),
    }


def _record(old: dict[str, Any] | None, new: dict[str, Any] | None) -> dict[str, Any]:
    def image(item: dict[str, Any]) -> dict[str, Any]:
        return {key: _SERIALIZER.serialize(value) for key, value in item.items()}

    some = new or old
    assert some is not None
    dynamodb: dict[str, Any] = {
        "Keys": image({"client_id": some["client_id"], "item": some["item"]}),
        "SequenceNumber": "100",
        "ApproximateCreationDateTime": 1796644805,
    }
    if old is not None:
        dynamodb["OldImage"] = image(old)
    if new is not None:
        dynamodb["NewImage"] = image(new)
    return {"eventName": "MODIFY" if old and new else "INSERT" if new else "REMOVE", "dynamodb": dynamodb}


@pytest.mark.parametrize(
    ("status", "completed", "canceled"), [("completed", 2, 0), ("canceled", 1, 1), ("rejected", 0, 0)]
)
def test_a_batch_moving_into_an_ending_is_batch_ended(status: str, completed: int, canceled: int) -> None:
    record = _record(_item("running", completed=max(completed - 1, 0)), _item(status, completed, canceled))
    ended = mapping.batch_record_ended(record)
    assert ended is not None
    assert ended.client_id == "client-alpha"
    batch = ended.model_dump(mode="json")["batch"]
    assert "results_url" not in batch
    assert batch["batch_id"] == BATCH_ID
    assert batch["status"] == status
    assert batch["ended_at"] == "2026-12-07T12:00:05Z"
    assert batch["metadata"] == {"run": "nightly"}
    assert batch["counts"]["total"] == 2
    assert batch["counts"]["completed"] == completed
    assert batch["counts"]["canceled"] == canceled


def test_the_entry_is_batch_ended_on_the_bus() -> None:
    ended = mapping.batch_record_ended(_record(_item("running", 1), _item("completed", 2)))
    assert ended is not None
    entry = mapping.entry(ended, "bus")
    assert entry["DetailType"] == "Batch Ended"
    assert entry["Source"] == "magic-hour-pipeline"
    assert entry["EventBusName"] == "bus"


@pytest.mark.parametrize(
    ("old", "new"),
    [
        (None, _item("validating")),  # created
        (_item("validating"), _item("running")),  # running is no ending
        (_item("running"), _item("running", completed=1)),  # a job's count move
        (_item("completed", 2), _item("completed", 2)),  # rewritten after its ending
        (_item("completed", 2), None),  # removed
    ],
)
def test_a_batch_write_that_is_not_its_ending_is_no_event(
    old: dict[str, Any] | None, new: dict[str, Any] | None
) -> None:
    assert mapping.batch_record_ended(_record(old, new)) is None


def test_other_clients_table_items_publish_nothing() -> None:
    profile = {"client_id": "client-alpha", "item": "profile", "status": "completed"}
    usage = {"client_id": "client-alpha", "item": "usage#2026-12-07", "reserved": 10}
    assert mapping.batch_record_ended(_record(None, profile)) is None
    assert (
        stream.publish_records([_record(None, usage), _record(usage, {**usage, "reserved": 0})], "bus") == []
    )


def test_an_unreadable_batch_is_refused_not_skipped() -> None:
    broken = _item("completed", 2)
    del broken["total"]
    with pytest.raises(mapping.NotAJob):
        mapping.batch_record_ended(_record(_item("running", 1), broken))
    assert stream.publish_records([_record(_item("running", 1), broken)], "bus") == ["100"]
