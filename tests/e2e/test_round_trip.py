"""The whole round trip through HTTP: submit, Magic Hour renders and calls the webhook, the
downloader copies every output into S3, the job ends `completed` with verified outputs."""

from __future__ import annotations

import hashlib
from typing import Any

import pytest
import requests

VIDEO = {
    "tool": "face-swap",
    "input": {
        "start_seconds": 0,
        "end_seconds": 3,
        "assets": {
            "video_source": "file",
            "video_file_path": "https://example.com/v.mp4",
            "image_file_path": "https://example.com/f.png",
        },
    },
    "name": "e2e video",
    "metadata": {"order": 17, "source": "e2e"},
}
IMAGE = {"tool": "ai-image-generator", "input": {"image_count": 4, "style": {"prompt": "a red fox"}}}
AUDIO = {"tool": "ai-voice-generator", "input": {"style": {"prompt": "hello", "voice_name": "Elon Musk"}}}


def _s3_bytes(aws: Any, s3_uri: str) -> bytes:
    bucket, key = s3_uri.removeprefix("s3://").split("/", 1)
    return bytes(aws("s3").get_object(Bucket=bucket, Key=key)["Body"].read())


@pytest.mark.parametrize(
    ("body", "kind", "outputs"), [(VIDEO, "video", 1), (IMAGE, "image", 4), (AUDIO, "audio", 1)]
)
def test_job_ends_completed_with_the_bytes_magic_hour_served(stack, aws, body, kind, outputs) -> None:
    answer = stack.post_job(body)
    assert answer.status_code == 202, answer.text
    created = answer.json()
    assert created["status"] == "queued"
    assert created["kind"] == kind
    assert created["project_id"]
    assert answer.headers["Location"] == f"/v1/jobs/{created['job_id']}"

    job = stack.wait_for(created["job_id"], {"completed", "failed"})

    assert job["status"] == "completed", job
    assert job["metadata"] == body.get("metadata", {})
    served = {o["index"]: o for o in stack.sim_project(job["project_id"])["outputs"]}
    assert [o["index"] for o in job["outputs"]] == list(range(outputs))
    for output in job["outputs"]:
        stored = _s3_bytes(aws, output["s3_uri"])
        assert hashlib.sha256(stored).hexdigest() == output["sha256"] == served[output["index"]]["sha256"]
        assert len(stored) == output["size_bytes"] == served[output["index"]]["size_bytes"]
        # The presigned URL hands the same bytes to the caller.
        assert (
            hashlib.sha256(requests.get(output["download_url"], timeout=10).content).hexdigest()
            == output["sha256"]
        )


def test_output_object_carries_its_sha256_tag_and_job_id_metadata(stack, aws) -> None:
    job = stack.wait_for(stack.post_job(AUDIO).json()["job_id"], {"completed"})
    output = job["outputs"][0]
    bucket, key = output["s3_uri"].removeprefix("s3://").split("/", 1)
    head = aws("s3").head_object(Bucket=bucket, Key=key)
    # Written once: the sha256 is a tag added after the verified write, not metadata (a copy).
    tags = aws("s3").get_object_tagging(Bucket=bucket, Key=key)["TagSet"]
    assert tags == [{"Key": "sha256", "Value": output["sha256"]}]
    assert head["Metadata"]["job-id"] == job["job_id"]
    assert head["ContentType"] == output["content_type"] == "audio/mpeg"
