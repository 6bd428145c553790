"""Bounded uploads over HTTP, through the local stack with several clients (issue #23): the daily
upload quota is counted per client (one client using its quota up never limits another), a
`size_bytes` is signed into the PUT as its Content-Length, an upload over `MaxUploadBytes` minted
without one is refused where a job uses it, and `GET /v1/usage` shows the day's uploads. One stack
of its own, with a small quota and limit.

moto does not check the signature of a presigned URL, so that S3 refuses a PUT of another size is
shown by the URL's signed headers (content-length) here, and by botocore's signing in
tests/unit/test_inputs.py."""

from __future__ import annotations

import concurrent.futures
import os
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
import requests
from conftest import StackHandle, start_stack

QUOTA = 4
MAX_BYTES = 5000


@pytest.fixture(scope="module")
def bounded(tmp_path_factory: pytest.TempPathFactory) -> Iterator[StackHandle]:
    stack, handle = start_stack(
        tmp_path_factory,
        schedule_seconds=3600,
        parameters={"DailyUploadQuota": str(QUOTA), "MaxUploadBytes": str(MAX_BYTES)},
    )
    try:
        handle.scenario(render_seconds=0.3)
        yield handle
    finally:
        stack.stop()


def new_upload(handle: StackHandle, key: str, **body: Any) -> requests.Response:
    return requests.post(
        f"{handle.api}/v1/uploads", json={"extension": "png", **body}, headers=handle.headers(key), timeout=10
    )


def uploads_today(handle: StackHandle, key: str) -> int:
    answer = requests.get(f"{handle.api}/v1/usage", headers=handle.headers(key), timeout=10)
    assert answer.status_code == 200, answer.text
    return int(answer.json()["uploads"])


def face_swap(image: str) -> dict[str, Any]:
    return {
        "tool": "face-swap",
        "input": {
            "start_seconds": 0,
            "end_seconds": 2,
            "assets": {
                "video_source": "file",
                "video_file_path": "https://example.com/in.mp4",
                "image_file_path": image,
            },
        },
    }


def test_one_clients_quota_is_its_own_and_shown_in_its_usage(bounded: StackHandle) -> None:
    # gamma uses its whole quota up; beta and alpha are untouched by it.
    before_beta = uploads_today(bounded, "key-beta")
    for _ in range(QUOTA):
        assert new_upload(bounded, "key-gamma").status_code == 201
    refused = new_upload(bounded, "key-gamma")
    assert refused.status_code == 429, refused.text
    assert refused.json()["error"]["code"] == "upload_quota_exceeded"
    assert "upload_url" not in refused.text
    now = datetime.now(UTC)
    midnight = datetime.combine(now.date() + timedelta(days=1), datetime.min.time(), UTC)
    assert abs(int(refused.headers["Retry-After"]) - (midnight - now).total_seconds()) < 60
    assert uploads_today(bounded, "key-gamma") == QUOTA  # the refusal counted nothing
    assert new_upload(bounded, "key-beta").status_code == 201
    assert uploads_today(bounded, "key-beta") == before_beta + 1


def test_a_given_size_is_signed_into_the_put(bounded: StackHandle) -> None:
    data = os.urandom(3000)
    answer = new_upload(bounded, "key-alpha", size_bytes=len(data))
    assert answer.status_code == 201, answer.text
    body = answer.json()
    assert body["upload_headers"] == {"Content-Length": "3000"}
    signed = parse_qs(urlsplit(body["upload_url"]).query)["X-Amz-SignedHeaders"][0].split(";")
    assert "content-length" in signed
    assert requests.put(body["upload_url"], data=data, timeout=10).status_code == 200
    # The upload is within the limit, so a job may use it.
    accepted = bounded.post_job(face_swap(body["file_path"]), "key-alpha")
    assert accepted.status_code == 202, accepted.text


@pytest.mark.parametrize("size", [MAX_BYTES + 1, 0, "3000", True])
def test_a_size_over_the_limit_or_not_a_whole_number_is_refused_and_not_counted(
    bounded: StackHandle, size: Any
) -> None:
    before = uploads_today(bounded, "key-alpha")
    answer = new_upload(bounded, "key-alpha", size_bytes=size)
    assert answer.status_code == 422, answer.text
    error = answer.json()["error"]
    assert error["code"] == "validation_failed"
    assert error["details"][0]["loc"] == ["body", "size_bytes"]
    assert uploads_today(bounded, "key-alpha") == before


def test_an_upload_over_the_limit_without_a_size_is_refused_where_a_job_uses_it(bounded: StackHandle) -> None:
    answer = new_upload(bounded, "key-beta")
    assert answer.status_code == 201, answer.text
    assert (
        requests.put(answer.json()["upload_url"], data=os.urandom(MAX_BYTES + 1), timeout=10).status_code
        == 200
    )
    creates = bounded.sim_stats()["creates"]
    refused = bounded.post_job(face_swap(answer.json()["file_path"]), "key-beta")
    assert refused.status_code == 422, refused.text
    error = refused.json()["error"]
    assert error["code"] == "validation_failed"
    (detail,) = error["details"]
    assert detail["loc"] == ["body", "input", "assets", "image_file_path"]
    assert f"limit of {MAX_BYTES}" in detail["msg"]
    assert bounded.sim_stats()["creates"] == creates


def test_concurrent_uploads_never_mint_more_than_the_quota(bounded: StackHandle) -> None:
    # Last in the file: it uses up what is left of alpha's quota, whatever the tests above took.
    left = QUOTA - uploads_today(bounded, "key-alpha")
    assert left >= 1
    with concurrent.futures.ThreadPoolExecutor(max_workers=8) as pool:
        statuses = sorted(pool.map(lambda _: new_upload(bounded, "key-alpha").status_code, range(8)))
    assert statuses == [201] * left + [429] * (8 - left)
    assert uploads_today(bounded, "key-alpha") == QUOTA
