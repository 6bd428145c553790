"""Download URLs: deterministic bytes, signatures, expiry and the download_* scenario fields."""

from __future__ import annotations

import hashlib
import logging
import time
import tracemalloc
from typing import Any

import pytest
import requests

from local.simulator.content import iter_bytes
from tests.polling import poll

from .helpers import AUDIO_BODY, FACE_SWAP_BODY, SimClient


def completed_urls(sim: SimClient, tool: str = "face-swap", body: Any = FACE_SWAP_BODY) -> list[str]:
    project_id = sim.create(tool, body)
    kind = "audio" if tool.startswith("ai-voice") else "video"
    done = sim.wait_status(kind, project_id)
    assert done["status"] == "complete"
    return [d["url"] for d in done["downloads"]]


def project_of(url: str) -> str:
    return url.split("/_files/")[1].split("/")[0]


def test_bytes_are_deterministic_and_match_sim_sha(sim: SimClient) -> None:
    (url,) = completed_urls(sim)
    project_id = project_of(url)
    first = requests.get(url, timeout=10)
    assert first.status_code == 200
    assert first.headers["Content-Type"] == "video/mp4"
    again_url = sim.get("video", project_id).json()["downloads"][0]["url"]
    assert again_url != url
    assert requests.get(again_url, timeout=10).content == first.content
    expected = sim.sim_project(project_id)["outputs"][0]["sha256"]
    assert hashlib.sha256(first.content).hexdigest() == expected


def test_tampered_url_is_403(sim: SimClient) -> None:
    (url,) = completed_urls(sim)
    base, query = url.split("?")
    params = dict(part.split("=") for part in query.split("&"))
    forged_expiry = (
        f"{base}?expires={int(params['expires']) + 1000}&nonce={params['nonce']}&sig={params['sig']}"
    )
    for bad in [base, url.replace("sig=", "sig=00"), forged_expiry, url.replace("/0/", "/1/")]:
        response = requests.get(bad, timeout=10)
        assert response.status_code == 403, bad
    assert sim.stats()["downloads"] == 4


def test_download_expire_seconds(sim: SimClient) -> None:
    sim.scenario(download_expire_seconds=0.5)
    (url,) = completed_urls(sim)
    assert requests.get(url, timeout=10).status_code == 200
    time.sleep(0.6)
    expired = requests.get(url, timeout=10)
    assert expired.status_code == 403
    # A fresh GET hands out a fresh, valid URL.
    fresh = sim.get("video", project_of(url)).json()["downloads"][0]["url"]
    assert requests.get(fresh, timeout=10).status_code == 200


def test_default_expiry_is_a_day(sim: SimClient) -> None:
    project_id = sim.create("face-swap", FACE_SWAP_BODY)
    done = sim.wait_status("video", project_id)
    expires_at = done["downloads"][0]["expires_at"]
    from datetime import datetime

    moment = datetime.fromisoformat(expires_at.replace("Z", "+00:00")).timestamp()
    assert abs(moment - (time.time() + 86400)) < 10


@pytest.mark.parametrize("status", [None, 503])
def test_download_fail_first(sim: SimClient, status: int | None) -> None:
    fields: dict[str, Any] = {"download_fail_first": 2, "outputs": 2}
    if status is not None:
        fields["download_fail_status"] = status
    sim.scenario(**fields)
    first_file, second_file = completed_urls(sim)
    expected = status or 500
    assert requests.get(first_file, timeout=10).status_code == expected
    assert requests.get(first_file, timeout=10).status_code == expected
    assert requests.get(first_file, timeout=10).status_code == 200
    # The counter is per file.
    assert requests.get(second_file, timeout=10).status_code == expected
    assert sim.stats()["downloads"] == 4


def test_download_truncate_first(sim: SimClient) -> None:
    sim.scenario(download_truncate_first=2, output_bytes=200_000)
    (url,) = completed_urls(sim)
    for _ in range(2):
        response = requests.get(url, stream=True, timeout=10)
        assert response.status_code == 200
        assert response.headers["Content-Length"] == "200000"  # promises the whole file
        with pytest.raises(requests.exceptions.ChunkedEncodingError):
            b"".join(response.iter_content(65536))
    whole = requests.get(url, timeout=10)
    assert len(whole.content) == 200_000
    assert (
        hashlib.sha256(whole.content).hexdigest() == sim.sim_project(project_of(url))["outputs"][0]["sha256"]
    )


def test_truncation_counts_after_failures(sim: SimClient) -> None:
    sim.scenario(download_fail_first=1, download_truncate_first=1)
    (url,) = completed_urls(sim)
    assert requests.get(url, timeout=10).status_code == 500
    with pytest.raises(requests.exceptions.ChunkedEncodingError):
        requests.get(url, timeout=10)
    assert requests.get(url, timeout=10).status_code == 200


def test_download_bytes_per_second(sim: SimClient) -> None:
    sim.scenario(output_bytes=100_000)
    (fast_url,) = completed_urls(sim, "ai-voice-generator", AUDIO_BODY)
    started = time.monotonic()
    assert len(requests.get(fast_url, timeout=10).content) == 100_000
    fast = time.monotonic() - started

    sim.scenario(download_bytes_per_second=200_000)
    (slow_url,) = completed_urls(sim, "ai-voice-generator", AUDIO_BODY)
    started = time.monotonic()
    assert len(requests.get(slow_url, timeout=10).content) == 100_000
    slow = time.monotonic() - started
    assert slow >= 0.45
    assert fast < 0.3


def test_range_requests(sim: SimClient) -> None:
    sim.scenario(output_bytes=300_000)
    (url,) = completed_urls(sim)
    whole = requests.get(url, timeout=10).content
    part = requests.get(url, headers={"Range": "bytes=70000-"}, timeout=10)
    assert part.status_code == 206
    assert part.headers["Content-Range"] == "bytes 70000-299999/300000"
    assert part.content == whole[70000:]
    middle = requests.get(url, headers={"Range": "bytes=65535-65537"}, timeout=10)
    assert middle.content == whole[65535:65538]
    assert requests.get(url, headers={"Range": "bytes=400000-"}, timeout=10).status_code == 416


def test_deleted_project_files_are_gone(sim: SimClient) -> None:
    (url,) = completed_urls(sim)
    project_id = project_of(url)
    requests.delete(f"{sim.url}/v1/video-projects/{project_id}", headers=sim.auth, timeout=10)
    assert requests.get(url, timeout=10).status_code == 404


def test_64_mb_file_streams_with_correct_sha(sim: SimClient) -> None:
    size = 64 * 1024 * 1024
    sim.scenario(output_bytes=size)
    (url,) = completed_urls(sim)
    digest = hashlib.sha256()
    received = 0
    with requests.get(url, stream=True, timeout=30) as response:
        assert response.headers["Content-Length"] == str(size)
        for chunk in response.iter_content(1024 * 1024):
            digest.update(chunk)
            received += len(chunk)
    assert received == size
    assert digest.hexdigest() == sim.sim_project(project_of(url))["outputs"][0]["sha256"]


def ranged(url: str, spec: str, **headers: str) -> requests.Response:
    return requests.get(url, headers={"Range": spec, **headers}, timeout=30)


def test_full_answers_advertise_ranges(sim: SimClient) -> None:
    (url,) = completed_urls(sim)
    response = requests.get(url, timeout=10)
    assert response.status_code == 200
    assert response.headers["Accept-Ranges"] == "bytes"
    assert "Content-Range" not in response.headers


def test_concatenated_ranges_hash_to_the_whole_file(sim: SimClient) -> None:
    size = 1_000_003  # not a multiple of the 64 KiB block, nor of the range size
    sim.scenario(output_bytes=size)
    (url,) = completed_urls(sim)
    digest = hashlib.sha256()
    step = 131_071
    for start in range(0, size, step):
        end = min(start + step, size) - 1
        part = ranged(url, f"bytes={start}-{end}")
        assert part.status_code == 206
        assert part.headers["Content-Range"] == f"bytes {start}-{end}/{size}"
        assert part.headers["Content-Length"] == str(end - start + 1)
        assert part.headers["Accept-Ranges"] == "bytes"
        assert len(part.content) == end - start + 1
        digest.update(part.content)
    assert digest.hexdigest() == sim.sim_project(project_of(url))["outputs"][0]["sha256"]
    assert sim.stats()["downloads"] == -(-size // step)  # every ranged request is one download


def test_range_forms(sim: SimClient) -> None:
    size = 200_000
    sim.scenario(output_bytes=size)
    (url,) = completed_urls(sim)
    whole = requests.get(url, timeout=10).content
    cases = {
        "bytes=-100": (size - 100, size),
        "bytes=-5000000": (0, size),  # a suffix longer than the file is the whole file
        "bytes=0-99999999": (0, size),  # the end is clipped to the file
        "bytes=199999-": (size - 1, size),
        "bytes=0-0": (0, 1),
        "BYTES = 10-19": (10, 20),
    }
    for spec, (start, stop) in cases.items():
        part = ranged(url, spec)
        assert part.status_code == 206, spec
        assert part.headers["Content-Range"] == f"bytes {start}-{stop - 1}/{size}", spec
        assert part.content == whole[start:stop], spec


@pytest.mark.parametrize("spec", ["bytes=200000-", "bytes=250000-260000", "bytes=-0"])
def test_unsatisfiable_range_is_416(sim: SimClient, spec: str) -> None:
    sim.scenario(output_bytes=200_000)
    (url,) = completed_urls(sim)
    response = ranged(url, spec)
    assert response.status_code == 416
    assert response.headers["Content-Range"] == "bytes */200000"
    assert response.content == b""


@pytest.mark.parametrize(
    "spec", ["bytes=0-1,5-6", "bytes=5-3", "items=0-1", "bytes=abc", "bytes=-", "bytes=1-2-3"]
)
def test_ranges_a_server_may_ignore_get_the_whole_file(sim: SimClient, spec: str) -> None:
    sim.scenario(output_bytes=5000)
    (url,) = completed_urls(sim)
    response = ranged(url, spec)
    assert response.status_code == 200
    assert len(response.content) == 5000


def test_if_range(sim: SimClient) -> None:
    sim.scenario(output_bytes=5000)
    (url,) = completed_urls(sim)
    etag = requests.head(url, timeout=10).headers["ETag"]
    assert ranged(url, "bytes=0-9", **{"If-Range": etag}).status_code == 206
    stale = ranged(url, "bytes=0-9", **{"If-Range": '"another-file"'})
    assert stale.status_code == 200
    assert len(stale.content) == 5000


def test_head_answers_the_headers_only(sim: SimClient) -> None:
    sim.scenario(output_bytes=123_457, download_fail_first=1)
    (url,) = completed_urls(sim, "ai-voice-generator", AUDIO_BODY)
    head = requests.head(url, timeout=10)
    assert head.status_code == 200
    assert head.headers["Content-Length"] == "123457"
    assert head.headers["Accept-Ranges"] == "bytes"
    assert head.headers["Content-Type"] == "audio/mpeg"
    assert head.content == b""
    ranged_head = requests.head(url, headers={"Range": "bytes=100-"}, timeout=10)
    assert ranged_head.status_code == 206
    assert ranged_head.headers["Content-Length"] == str(123_457 - 100)
    # HEAD is no download: the first GET still meets the scenario's failure.
    assert sim.stats()["downloads"] == 0
    assert requests.get(url, timeout=10).status_code == 500
    assert requests.get(url, timeout=10).status_code == 200
    assert requests.head(url.replace("sig=", "sig=0"), timeout=10).status_code == 403


def test_faults_apply_per_ranged_request(sim: SimClient) -> None:
    sim.scenario(output_bytes=300_000, download_fail_first=1, download_truncate_first=1)
    (url,) = completed_urls(sim)
    assert ranged(url, "bytes=0-99999").status_code == 500
    short = requests.get(url, headers={"Range": "bytes=100000-199999"}, stream=True, timeout=10)
    assert short.status_code == 206
    assert short.headers["Content-Length"] == "100000"
    with pytest.raises(requests.exceptions.ChunkedEncodingError):
        b"".join(short.iter_content(65536))
    whole = ranged(url, "bytes=100000-199999")
    assert whole.status_code == 206
    assert len(whole.content) == 100_000


def test_throttling_and_expiry_apply_per_ranged_request(sim: SimClient) -> None:
    sim.scenario(output_bytes=1_000_000, download_bytes_per_second=200_000, download_expire_seconds=3)
    (url,) = completed_urls(sim)
    started = time.monotonic()
    assert len(ranged(url, "bytes=0-99999").content) == 100_000
    assert time.monotonic() - started >= 0.45  # the rate holds for a slice, not only for whole files
    poll(
        lambda: ranged(url, "bytes=0-9").status_code,
        10,
        "the URL's expiry",
        until=lambda status: status == 403,
    )


def test_a_terabyte_file_serves_any_range_in_flat_memory(sim: SimClient) -> None:
    size = 1 << 40
    sim.scenario(output_bytes=size)
    project_id = sim.create("face-swap", FACE_SWAP_BODY)
    url = sim.wait_status("video", project_id)["downloads"][0]["url"]
    assert requests.head(url, timeout=10).headers["Content-Length"] == str(size)
    tail = ranged(url, "bytes=-1000")
    assert tail.headers["Content-Range"] == f"bytes {size - 1000}-{size - 1}/{size}"
    assert tail.content == b"".join(iter_bytes(project_id, 0, size - 1000, size))
    # 128 MiB from the middle, streamed: traced memory (server thread included) stays small.
    start = size // 2 + 12345
    length = 128 * 1024 * 1024
    tracemalloc.start()
    try:
        received = 0
        with requests.get(
            url, headers={"Range": f"bytes={start}-{start + length - 1}"}, stream=True, timeout=60
        ) as response:
            assert response.status_code == 206
            for chunk in response.iter_content(1024 * 1024):
                received += len(chunk)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert received == length
    assert peak < 16 * 1024 * 1024, peak


def test_request_log_leaves_out_signatures(
    make_sim: Any, receiver: Any, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="werkzeug")
    sim = make_sim(log_requests=True, webhook_url=receiver.url)
    sim.scenario(render_seconds=0.05)
    (url,) = completed_urls(sim)
    assert requests.get(url, timeout=10).status_code == 200
    signature = url.split("sig=")[1]
    logged = "\n".join(record.getMessage() for record in caplog.records)
    assert "/_files/" in logged
    assert signature not in logged
    assert "sig=" not in logged
