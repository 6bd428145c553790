"""Inputs from S3 over HTTP, through the local stack: POST /v1/uploads, a PUT to the presigned
URL on the moto server, a job naming the upload as s3://, and what the simulated Magic Hour
fetched. One stack of its own, with an allowed bucket (InputBucketNames) besides the input bucket."""

from __future__ import annotations

import contextlib
import hashlib
import os
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import requests
from conftest import StackHandle, start_stack

PARTNER_BUCKET = "partner-media"
# Inputs of at least this size go into Magic Hour's own storage; the other tests' inputs are smaller.
COPY_MIN_BYTES = 100_000


@pytest.fixture(scope="module")
def uploads_stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[StackHandle]:
    stack, handle = start_stack(
        tmp_path_factory,
        schedule_seconds=3600,
        parameters={"InputBucketNames": PARTNER_BUCKET, "MagicHourUploadMinBytes": str(COPY_MIN_BYTES)},
    )
    try:
        yield handle
    finally:
        stack.stop()


@pytest.fixture
def sx(uploads_stack: StackHandle) -> StackHandle:
    requests.delete(f"{uploads_stack.magic_hour}/_sim/scenario", timeout=5).raise_for_status()
    uploads_stack.scenario(render_seconds=0.3)
    return uploads_stack


def s3(handle: StackHandle) -> Any:
    from local.resources import client

    return client("s3", handle.aws, "us-east-1")


def new_upload(handle: StackHandle, key: str = "key-alpha", **body: Any) -> requests.Response:
    return requests.post(
        f"{handle.api}/v1/uploads",
        json={"extension": "png", **body},
        headers=handle.headers(key),
        timeout=10,
    )


def uploaded(handle: StackHandle, data: bytes, key: str = "key-alpha", extension: str = "png") -> str:
    answer = new_upload(handle, key, extension=extension)
    assert answer.status_code == 201, answer.text
    put = requests.put(answer.json()["upload_url"], data=data, timeout=10)
    assert put.status_code == 200, put.text
    return str(answer.json()["file_path"])


def face_swap(image: str, video: str = "https://example.com/in.mp4") -> dict[str, Any]:
    return {
        "tool": "face-swap",
        "input": {
            "start_seconds": 0,
            "end_seconds": 2,
            "assets": {"video_source": "file", "video_file_path": video, "image_file_path": image},
        },
    }


def sim_input(handle: StackHandle, project_id: str, field: str) -> dict[str, Any]:
    recorded = {item["field"]: item for item in handle.sim_project(project_id).get("inputs", [])}
    assert field in recorded, f"the simulator recorded no input {field}: {recorded}"
    return dict(recorded[field])


def function_log(handle: StackHandle) -> str:
    return Path(handle.stack.function_log).read_text()


def test_upload_answers_201_with_a_client_scoped_file_path_and_a_working_put(sx: StackHandle) -> None:
    answer = new_upload(sx)
    assert answer.status_code == 201, answer.text
    body = answer.json()
    bucket = sx.stack.resolver.refs["InputBucket"]
    assert body["file_path"].startswith(f"s3://{bucket}/uploads/client-alpha/")
    assert body["file_path"].endswith(".png")
    assert body["expires_at"].endswith("Z")
    data = os.urandom(3000)
    assert requests.put(body["upload_url"], data=data, timeout=10).status_code == 200
    stored = s3(sx).get_object(Bucket=bucket, Key=body["file_path"].split("/", 3)[3])
    assert stored["Body"].read() == data


def test_upload_with_a_content_type_must_be_put_with_it(sx: StackHandle) -> None:
    answer = new_upload(sx, content_type="image/png")
    assert answer.status_code == 201, answer.text
    body = answer.json()
    assert body["upload_headers"] == {"Content-Type": "image/png"}
    put = requests.put(body["upload_url"], data=b"png bytes", headers=body["upload_headers"], timeout=10)
    assert put.status_code == 200, put.text
    head = s3(sx).head_object(Bucket=body["file_path"].split("/")[2], Key=body["file_path"].split("/", 3)[3])
    assert head["ContentType"] == "image/png"


@pytest.mark.parametrize(
    ("body", "status", "code", "loc"),
    [
        ({"extension": "exe"}, 422, "validation_failed", ["body", "extension"]),
        ({}, 422, "validation_failed", ["body", "extension"]),
        ({"extension": "mp4", "content_type": "no type"}, 422, "validation_failed", ["body", "content_type"]),
        ("not json", 400, "invalid_json", None),
    ],
)
def test_bad_upload_requests_get_precise_4xx(
    sx: StackHandle, body: Any, status: int, code: str, loc: Any
) -> None:
    answer = requests.post(
        f"{sx.api}/v1/uploads",
        data=body if isinstance(body, str) else None,
        json=None if isinstance(body, str) else body,
        headers=sx.headers(),
        timeout=10,
    )
    assert answer.status_code == status, answer.text
    error = answer.json()["error"]
    assert error["code"] == code
    if loc is not None:
        assert error["details"][0]["loc"] == loc


def test_upload_needs_an_api_key(sx: StackHandle) -> None:
    answer = requests.post(f"{sx.api}/v1/uploads", json={"extension": "mp4"}, timeout=10)
    assert answer.status_code == 401
    assert answer.json()["error"]["code"] == "unauthorized"


def test_an_uploaded_input_reaches_magic_hour_and_the_job_keeps_the_s3_value(sx: StackHandle) -> None:
    data = os.urandom(5000)
    file_path = uploaded(sx, data)
    answer = sx.post_job(face_swap(file_path))
    assert answer.status_code == 202, answer.text
    job = sx.wait_for(answer.json()["job_id"], {"completed", "failed"})
    assert job["status"] == "completed", job

    fetched = sim_input(sx, job["project_id"], "assets.image_file_path")
    assert fetched["fetched"] is True
    assert fetched["status_code"] == 200
    assert fetched["size_bytes"] == len(data)
    assert fetched["sha256"] == hashlib.sha256(data).hexdigest()
    # A presigned GET of the AWS endpoint the functions see (the fault proxy in front of moto here).
    assert fetched["url"].startswith(sx.stack.faults.url if sx.stack.faults else sx.aws)
    assert "X-Amz-Signature" in fetched["url"]

    # The job shows no input URL (its only presigned URLs are its outputs'), and no log line
    # carries the URL Magic Hour was given.
    shown = sx.get_job(job["job_id"]).text
    assert fetched["url"] not in shown
    assert shown.count("X-Amz-Signature") == len(job["outputs"])
    signature = fetched["url"].split("X-Amz-Signature=")[1].split("&")[0]
    assert signature not in function_log(sx)


def test_the_same_key_and_body_with_an_s3_input_is_one_job(sx: StackHandle) -> None:
    file_path = uploaded(sx, os.urandom(1000))
    key = str(uuid.uuid4())
    creates = sx.sim_stats()["creates"]
    first = sx.post_job(face_swap(file_path), **{"Idempotency-Key": key})
    second = sx.post_job(face_swap(file_path), **{"Idempotency-Key": key})
    assert first.status_code == second.status_code == 202, (first.text, second.text)
    assert first.json()["job_id"] == second.json()["job_id"]
    assert sx.sim_stats()["creates"] - creates == 1


def job_ids(handle: StackHandle, key: str) -> list[str]:
    listed = requests.get(f"{handle.api}/v1/jobs?limit=100", headers=handle.headers(key), timeout=10)
    return [job["job_id"] for job in listed.json()["jobs"]]


def refused_field(handle: StackHandle, body: dict[str, Any], key: str = "key-alpha") -> dict[str, Any]:
    """The one detail of a 422 that changed nothing: no Magic Hour create, no job kept."""
    creates = handle.sim_stats()["creates"]
    jobs = job_ids(handle, key)
    answer = handle.post_job(body, key)
    assert answer.status_code == 422, answer.text
    error = answer.json()["error"]
    assert error["code"] == "validation_failed"
    assert handle.sim_stats()["creates"] == creates
    assert job_ids(handle, key) == jobs
    (detail,) = error["details"]
    return dict(detail)


def test_another_clients_upload_is_refused(sx: StackHandle) -> None:
    file_path = uploaded(sx, os.urandom(1000), key="key-alpha")
    detail = refused_field(sx, face_swap(file_path), key="key-beta")
    assert detail["loc"] == ["body", "input", "assets", "image_file_path"]
    assert "not an upload of this client" in detail["msg"]


def test_an_upload_never_put_is_refused(sx: StackHandle) -> None:
    answer = new_upload(sx)
    detail = refused_field(sx, face_swap(answer.json()["file_path"]))
    assert detail["loc"] == ["body", "input", "assets", "image_file_path"]
    assert "PUT the file" in detail["msg"]


def test_a_bucket_not_allowed_is_refused(sx: StackHandle) -> None:
    output_bucket = sx.stack.resolver.refs["OutputBucket"]
    detail = refused_field(
        sx, face_swap("https://example.com/face.png", video=f"s3://{output_bucket}/jobs/x.mp4")
    )
    assert detail["loc"] == ["body", "input", "assets", "video_file_path"]
    assert "not one this deployment reads inputs from" in detail["msg"]


def test_an_object_of_an_allowed_bucket_works_for_every_client(sx: StackHandle) -> None:
    client = s3(sx)
    with contextlib.suppress(client.exceptions.BucketAlreadyOwnedByYou):
        client.create_bucket(Bucket=PARTNER_BUCKET)
    data = os.urandom(2048)
    client.put_object(Bucket=PARTNER_BUCKET, Key="library/face.png", Body=data)
    for key in ("key-alpha", "key-beta"):
        answer = sx.post_job(face_swap(f"s3://{PARTNER_BUCKET}/library/face.png"), key)
        assert answer.status_code == 202, answer.text
        job = sx.wait_for(answer.json()["job_id"], {"completed", "failed"}, key=key)
        assert job["status"] == "completed"
        assert (
            sim_input(sx, job["project_id"], "assets.image_file_path")["sha256"]
            == hashlib.sha256(data).hexdigest()
        )

    detail = refused_field(sx, face_swap(f"s3://{PARTNER_BUCKET}/library/missing.png"))
    assert detail["loc"] == ["body", "input", "assets", "image_file_path"]


def test_a_large_input_is_copied_into_magic_hours_own_storage(sx: StackHandle) -> None:
    data = os.urandom(COPY_MIN_BYTES + 50_000)
    file_path = uploaded(sx, data)
    answer = sx.post_job(face_swap(file_path))
    assert answer.status_code == 202, answer.text
    job = sx.wait_for(answer.json()["job_id"], {"completed", "failed"})
    assert job["status"] == "completed", job

    handed = sim_input(sx, job["project_id"], "assets.image_file_path")
    assert handed["url"].startswith("api-assets/")  # a Magic Hour file_path, not a URL of ours
    assert handed["url"].endswith(".png")
    copied = requests.get(f"{sx.magic_hour}/_uploads/{handed['url']}", timeout=10)
    assert copied.status_code == 200
    assert hashlib.sha256(copied.content).hexdigest() == hashlib.sha256(data).hexdigest()


@pytest.mark.parametrize("upload_status", [502, 504])
def test_an_unknown_answer_to_the_upload_url_call_lets_the_job_wait_and_be_created(
    sx: StackHandle, upload_status: int
) -> None:
    """Asking Magic Hour for an upload URL creates nothing: a gateway error there means the create
    was never sent, so the job waits (never `submitting` for the whole grace) and is created once
    the call works again."""
    sx.scenario(upload_url_status=upload_status, render_seconds=0.3)
    file_path = uploaded(sx, os.urandom(COPY_MIN_BYTES + 10))
    creates = sx.sim_stats()["creates"]
    answer = sx.post_job(face_swap(file_path))
    assert answer.status_code == 202, answer.text
    assert answer.json()["status"] == "waiting"
    assert sx.sim_stats()["creates"] == creates  # the create itself was never sent
    sx.scenario(upload_url_status=200)
    job = sx.wait_for(answer.json()["job_id"], {"completed", "failed"}, timeout=60)
    assert job["status"] == "completed", job
    assert sx.sim_stats()["creates"] - creates == 1


@pytest.fixture(scope="module")
def one_slot_stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[StackHandle]:
    stack, handle = start_stack(
        tmp_path_factory, schedule_seconds=3600, parameters={"MagicHourMaxConcurrency": "1"}
    )
    try:
        yield handle
    finally:
        stack.stop()


def test_a_job_that_waited_for_a_slot_hands_its_upload_over_when_the_dispatcher_creates_it(
    one_slot_stack: StackHandle,
) -> None:
    """With one slot, the second job waits; the dispatcher (its own function and role) signs the
    URL when it finally creates the project, not submit."""
    sx = one_slot_stack
    sx.scenario(render_seconds=1.0)
    data = os.urandom(4000)
    file_path = uploaded(sx, data)
    first = sx.post_job(face_swap(file_path))
    second = sx.post_job(face_swap(file_path))
    assert first.status_code == second.status_code == 202, (first.text, second.text)
    assert second.json()["status"] == "waiting"
    job = sx.wait_for(second.json()["job_id"], {"completed", "failed"}, timeout=60)
    assert job["status"] == "completed", job
    fetched = sim_input(sx, job["project_id"], "assets.image_file_path")
    assert (fetched["status_code"], fetched["sha256"]) == (200, hashlib.sha256(data).hexdigest())
