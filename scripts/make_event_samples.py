"""Regenerate the events function's samples in events/ (python -m scripts.make_event_samples):
a jobs-table stream batch as EventsFunction receives it, and the events a rule's target then
receives from the bus. tests/unit/test_event_mapping.py checks that one maps to the other."""

from __future__ import annotations

import json
import os

from layer_path import ROOT

os.environ.setdefault("OUTPUT_BUCKET_NAME", "magic-hour-pipeline-outputbucket")

from boto3.dynamodb.types import TypeSerializer

from pipeline.events import mapping
from pipeline.events.models import BatchEnded, JobStatusChanged
from pipeline.models.job import Job, JobStatus, StoredOutput
from pipeline.store.job_items import to_item

EVENTS = ROOT / "events"
STREAM_ARN = "arn:aws:dynamodb:us-east-1:123456789012:table/magic-hour-pipeline-JobsTable/stream/2026-11-23"
JOB_ID = "job_3q2zx7vbnarytkcw5mpald4xyz"


def _job(status: JobStatus, updated_at: str, **fields: object) -> Job:
    return Job(
        job_id=JOB_ID,
        client_id="local",
        tool="ai-image-generator",
        kind="image",
        status=status,
        project_id="cm3example0project",
        credits_charged=5,
        metadata={"order": "A-1001"},
        created_at="2026-11-23T06:00:00Z",
        updated_at=updated_at,
        **fields,  # type: ignore[arg-type]
    )


def _image(job: Job) -> dict[str, object]:
    serializer = TypeSerializer()
    item = to_item(job)
    item["expires_at_epoch"] = 1771912800  # fixed, so the sample does not change on every run
    return {name: serializer.serialize(value) for name, value in item.items()}


def main() -> None:
    output = StoredOutput(
        index=0,
        s3_key=f"jobs/{JOB_ID}/cm3example0project/output-0.png",
        size_bytes=65536,
        sha256="9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08",
        content_type="image/png",
        stored_at="2026-11-23T06:00:41Z",
    )
    before = _job(JobStatus.DOWNLOADING, "2026-11-23T06:00:40Z", output_count=1)
    after = _job(JobStatus.COMPLETED, "2026-11-23T06:00:41Z", output_count=1, outputs={"0": output})
    record = {
        "eventID": "c81e728d9d4c2f636f067f89cc14862c",
        "eventName": "MODIFY",
        "eventVersion": "1.1",
        "eventSource": "aws:dynamodb",
        "awsRegion": "us-east-1",
        "dynamodb": {
            "ApproximateCreationDateTime": 1795413641,
            "Keys": {"job_id": {"S": JOB_ID}},
            "NewImage": _image(after),
            "OldImage": _image(before),
            "SequenceNumber": "1100000000017454423011",
            "SizeBytes": 1520,
            "StreamViewType": "NEW_AND_OLD_IMAGES",
        },
        "eventSourceARN": STREAM_ARN,
    }
    _write("events-stream-job-completed.json", {"Records": [record]})
    detail = mapping.job_status_changed(record)
    assert detail is not None
    _write("events-bridge-job-status-changed.json", _envelope("Job Status Changed", after.updated_at, detail))
    batch = {
        "batch_id": "batch_7hQ2mK9xLp4sVbN3cRt8Wd",
        "status": "completed",
        "counts": {
            "total": 3,
            "waiting": 0,
            "submitting": 0,
            "queued": 0,
            "rendering": 0,
            "downloading": 0,
            "completed": 2,
            "failed": 1,
            "canceled": 0,
        },
        "credits_charged": 10,
        "metadata": {"campaign": "winter"},
        "created_at": "2026-11-23T06:00:00Z",
        "updated_at": "2026-11-23T06:03:12Z",
        "ended_at": "2026-11-23T06:03:12Z",
        "results_url": "https://example.invalid/results.jsonl (left out of the event)",
        "errors": None,
        "callback": None,
    }
    ended = mapping.batch_ended("running", batch, "local")
    assert ended is not None
    _write("events-bridge-batch-ended.json", _envelope("Batch Ended", batch["updated_at"], ended))  # type: ignore[arg-type]


def _envelope(detail_type: str, time: str, detail: JobStatusChanged | BatchEnded) -> dict[str, object]:
    """What a rule's target receives (EventBridge's envelope)."""
    return {
        "version": "0",
        "id": "6a7e8feb-b491-4cf7-a9f1-bf3703467718",
        "detail-type": detail_type,
        "source": "magic-hour-pipeline",
        "account": "123456789012",
        "time": time,
        "region": "us-east-1",
        "resources": [],
        "detail": json.loads(detail.model_dump_json()),
    }


def _write(name: str, document: dict[str, object]) -> None:
    (EVENTS / name).write_text(json.dumps(document, indent=2) + "\n")
    print(f"wrote events/{name}")


if __name__ == "__main__":
    main()
