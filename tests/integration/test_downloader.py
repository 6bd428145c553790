"""The downloader through the local stack: every output into S3, verified, whatever the network
does. Faults come from the simulator's scenario (failing, truncated, expiring downloads)."""

from __future__ import annotations

import hashlib
import json
import time
from typing import Any

import boto3
import pytest
import requests
from test_webhooks import deliver, quiet_job  # the same way of making a finished, unannounced project

from tests.observe import wait_drained
from tests.polling import poll

IMAGES = {"tool": "ai-image-generator", "input": {"image_count": 8, "style": {"prompt": "eight foxes"}}}
AUDIO = {"tool": "ai-voice-generator", "input": {"style": {"prompt": "hi", "voice_name": "Elon Musk"}}}


def _downloads(stack) -> int:
    return stack.sim_stats()["downloads"]


def _s3_sha(aws, uri: str) -> str:
    bucket, key = uri.removeprefix("s3://").split("/", 1)
    return hashlib.sha256(aws("s3").get_object(Bucket=bucket, Key=key)["Body"].read()).hexdigest()


def _dead_letters(stack, aws, job_id: str, wait: float = 0.0) -> list[dict[str, Any]]:
    """Messages on the download dead-letter queue for one job (others are left alone)."""
    sqs = aws("sqs")
    url = stack.stack.resolver.refs["DownloadDeadLetterQueue"]
    deadline = time.monotonic() + wait
    found: list[dict[str, Any]] = []
    while True:
        answer = sqs.receive_message(
            QueueUrl=url,
            MaxNumberOfMessages=10,
            WaitTimeSeconds=1,
            VisibilityTimeout=0,
            MessageAttributeNames=["All"],
        )
        found = [m for m in answer.get("Messages", []) if job_id in m["Body"]]
        if found or time.monotonic() >= deadline:
            return found


def test_eight_outputs_all_stored_and_verified(stack, aws) -> None:
    job = stack.wait_for(stack.post_job(IMAGES).json()["job_id"], {"completed", "failed"})
    assert job["status"] == "completed"
    served = {o["index"]: o["sha256"] for o in stack.sim_project(job["project_id"])["outputs"]}
    assert len(job["outputs"]) == 8
    keys = {o["s3_uri"] for o in job["outputs"]}
    assert len(keys) == 8
    for output in job["outputs"]:
        assert _s3_sha(aws, output["s3_uri"]) == output["sha256"] == served[output["index"]]


def test_first_downloads_failing_with_500_are_retried(stack) -> None:
    stack.scenario(download_fail_first=2, download_fail_status=500, outputs=2)
    before = _downloads(stack)
    job = stack.wait_for(
        stack.post_job(
            {"tool": "text-to-video", "input": {"end_seconds": 2, "style": {"prompt": "rain"}}}
        ).json()["job_id"],
        {"completed", "failed"},
        timeout=40,
    )
    assert job["status"] == "completed", job
    assert len(job["outputs"]) == 2
    # Two refused attempts and one good one per output, no more.
    assert _downloads(stack) - before == 6


def test_truncated_responses_are_never_stored(stack, aws) -> None:
    stack.scenario(download_truncate_first=1, output_bytes=20 * 1024 * 1024)  # multipart-sized
    before = _downloads(stack)
    job = stack.wait_for(stack.post_job(AUDIO).json()["job_id"], {"completed", "failed"}, timeout=40)
    assert job["status"] == "completed", job
    output = job["outputs"][0]
    assert output["size_bytes"] == 20 * 1024 * 1024
    assert (
        _s3_sha(aws, output["s3_uri"])
        == output["sha256"]
        == stack.sim_project(job["project_id"])["outputs"][0]["sha256"]
    )
    # The simulator honours Range: 8 MiB ranges 0, 1, 2, and range 0 again after it was cut.
    assert _downloads(stack) - before == 4


@pytest.mark.parametrize("keep_expires_at", [True, False], ids=["known-expired", "refused-403"])
def test_expired_url_is_refreshed_from_magic_hour(stack, keep_expires_at) -> None:
    stack.scenario(download_expire_seconds=1)
    job, project = quiet_job(stack, "audio")
    stack.scenario(download_expire_seconds=1)
    # Until the URLs in `project` have expired (a HEAD is no download: it is not counted).
    poll(
        lambda: requests.head(project["downloads"][0]["url"], timeout=5).status_code,
        10,
        "the download URL's expiry",
        until=lambda status: status == 403,
    )
    if not keep_expires_at:
        project = {**project, "downloads": [{"url": d["url"]} for d in project["downloads"]]}
    gets = stack.sim_stats()["gets"]
    assert deliver(stack, "audio.completed", project) == 200
    done = stack.wait_for(job["job_id"], {"completed", "failed"})
    assert done["status"] == "completed", done
    assert stack.sim_stats()["gets"] > gets  # it asked Magic Hour for a fresh URL


def test_url_on_a_host_that_is_not_allowed_is_never_fetched(stack, aws) -> None:
    job, project = quiet_job(stack, "video")
    evil = {
        **project,
        "downloads": [{"url": "http://169.254.169.254/latest/meta-data/iam", "expires_at": None}],
    }
    before = _downloads(stack)
    assert deliver(stack, "video.completed", evil) == 200
    failed = stack.wait_for(job["job_id"], {"completed", "failed"})
    assert failed["status"] == "failed"
    assert failed["error"]["source"] == "download"
    assert "not allowed" in failed["error"]["message"]
    assert _dead_letters(stack, aws, job["job_id"], wait=5)
    assert _downloads(stack) == before


def test_download_that_keeps_failing_ends_on_the_dlq_with_the_job_failed(stack, aws) -> None:
    stack.scenario(download_fail_first=100, download_fail_status=503)
    job = stack.post_job(AUDIO).json()
    failed = stack.wait_for(job["job_id"], {"completed", "failed"}, timeout=60)
    assert failed["status"] == "failed"
    assert failed["error"]["source"] == "download"
    assert "after 6 attempts" in failed["error"]["message"]
    assert _dead_letters(stack, aws, job["job_id"], wait=10)


def test_poison_message_goes_to_the_dlq(stack, aws) -> None:
    sqs = aws("sqs")
    marker = f"poison-{time.time_ns()}"
    sqs.send_message(
        QueueUrl=stack.stack.resolver.refs["DownloadQueue"], MessageBody=json.dumps({"junk": marker})
    )
    dead = _dead_letters(stack, aws, marker, wait=10)
    assert dead
    assert "not a download task" in dead[0]["MessageAttributes"]["failure_reason"]["StringValue"]


def test_same_message_twice_leaves_one_unchanged_object(stack, aws) -> None:
    job = stack.wait_for(stack.post_job(AUDIO).json()["job_id"], {"completed"})
    output = job["outputs"][0]
    bucket, key = output["s3_uri"].removeprefix("s3://").split("/", 1)
    first = aws("s3").head_object(Bucket=bucket, Key=key)
    project = stack.sim_project(job["project_id"])
    served = requests.get(
        f"{stack.magic_hour}/v1/audio-projects/{job['project_id']}",
        headers={"Authorization": f"Bearer {stack.stack.config.magic_hour_api_key}"},
        timeout=5,
    ).json()
    task = {
        "job_id": job["job_id"],
        "project_id": job["project_id"],
        "kind": "audio",
        "index": 0,
        # The output's real URL: a download the downloader should skip would be counted.
        "url": served["downloads"][0]["url"],
        "expires_at": None,
    }
    wait_drained(stack)
    before = _downloads(stack)
    for _ in range(2):
        aws("sqs").send_message(
            QueueUrl=stack.stack.resolver.refs["DownloadQueue"], MessageBody=json.dumps(task)
        )
    wait_drained(stack)
    after = aws("s3").head_object(Bucket=bucket, Key=key)
    assert after["ETag"] == first["ETag"]
    assert after["LastModified"] == first["LastModified"]
    assert _downloads(stack) == before
    listed = aws("s3").list_objects_v2(Bucket=bucket, Prefix=f"jobs/{job['job_id']}/")
    assert [o["Key"] for o in listed["Contents"]] == [key]
    stored = stack.get_job(job["job_id"]).json()["outputs"]
    assert [(o["s3_uri"], o["sha256"], o["size_bytes"]) for o in stored] == [
        (output["s3_uri"], output["sha256"], output["size_bytes"])
    ]
    assert project["outputs"][0]["sha256"] == output["sha256"]


def test_presigned_url_serves_the_stored_object(stack) -> None:
    job = stack.wait_for(stack.post_job(AUDIO).json()["job_id"], {"completed"})
    output = job["outputs"][0]
    fetched = requests.get(output["download_url"], timeout=10)
    assert fetched.status_code == 200
    assert hashlib.sha256(fetched.content).hexdigest() == output["sha256"]


def test_a_copy_of_the_failing_message_without_a_redrive_never_revives_the_job(stack, aws) -> None:
    """Terminal is terminal: the dead-lettered output's message sent again by anyone but the
    operator's redrive (a retry still on the queue, a sweep's requeue) finds the job failed and
    leaves it so; no second ending, no second callback."""
    stack.scenario(download_fail_first=6, download_fail_status=503)
    job_id = stack.post_job(AUDIO).json()["job_id"]
    failed = stack.wait_for(job_id, {"completed", "failed"}, timeout=60)
    assert failed["status"] == "failed"
    dead = _dead_letters(stack, aws, job_id, wait=10)
    assert dead
    refs = stack.stack.resolver.refs
    downloads_before = _downloads(stack)
    aws("sqs").send_message(QueueUrl=refs["DownloadQueue"], MessageBody=dead[0]["Body"])
    wait_drained(stack)
    assert stack.get_job(job_id).json()["status"] == "failed"
    assert _downloads(stack) == downloads_before  # dropped before any fetch


def test_redrive_after_a_fix_completes_the_failed_job(stack, aws) -> None:
    from ops.jobs import download_redrive_check
    from ops.queues import redrive

    # An outage of Magic Hour's file host that outlasts our six attempts, then ends.
    stack.scenario(download_fail_first=6, download_fail_status=503)
    job_id = stack.post_job(AUDIO).json()["job_id"]
    failed = stack.wait_for(job_id, {"completed", "failed"}, timeout=60)
    assert failed["status"] == "failed"
    assert _dead_letters(stack, aws, job_id, wait=10)
    refs = stack.stack.resolver.refs
    table = boto3.resource(
        "dynamodb",
        endpoint_url=stack.aws,
        region_name="us-east-1",
        aws_access_key_id="local",
        aws_secret_access_key="local",
    ).Table(refs["JobsTable"])
    prepare = download_redrive_check(table)
    assert redrive(aws("sqs"), refs["DownloadDeadLetterQueue"], refs["DownloadQueue"], prepare).moved >= 1
    job = stack.wait_for(job_id, {"completed"}, timeout=30)
    assert len(job["outputs"]) == 1
    assert job["error"] is None
