"""`make demo`: the whole round trip on this machine, narrated.

Starts the local stack, uploads a small generated image (POST /v1/uploads, then a PUT to the
presigned URL), submits a video job that names it as `s3://...`, an image job (several outputs)
and an audio job through the HTTP API, shows each job move, shows what Magic Hour fetched of the
upload, prints where every output landed in S3 with its size and sha256 (checked against what the
simulator served), then runs a small batch and cancels a job that waits for a slot
(local/demo_batch.py), and stops the stack.
"""

from __future__ import annotations

import dataclasses
import hashlib
import os
import struct
import sys
import time
import uuid
import zlib
from pathlib import Path
from typing import Any

import requests

from local.config import LocalConfig
from local.demo_batch import DEMO_SLOTS, run_batch_and_cancel
from local.stack import LocalStack

JOBS: list[dict[str, Any]] = [
    {
        "tool": "face-swap",
        "name": "demo video",
        "input": {
            "start_seconds": 0,
            "end_seconds": 4,
            "assets": {
                "video_source": "file",
                "video_file_path": "https://example.com/in.mp4",
                # Replaced by the s3:// file_path of the demo's own upload (see upload_face).
                "image_file_path": "https://example.com/face.png",
            },
        },
        "metadata": {"demo": "video"},
    },
    {
        "tool": "ai-image-generator",
        "name": "demo images",
        "input": {"image_count": 3, "style": {"prompt": "a lighthouse at dawn, watercolor"}},
        "metadata": {"demo": "image"},
    },
    {
        "tool": "ai-voice-generator",
        "name": "demo audio",
        "input": {"style": {"prompt": "Welcome to the Magic Hour pipeline.", "voice_name": "Elon Musk"}},
        "metadata": {"demo": "audio"},
    },
]
TIMEOUT_SECONDS = 60
TERMINAL = {"completed", "failed", "canceled"}


def main() -> int:
    config = LocalConfig.from_environment()
    if "LOCAL_MAGIC_HOUR_MAX_CONCURRENCY" not in os.environ:
        # A plan's few slots, so the batch queues and a job waits long enough to be cancelled.
        config = dataclasses.replace(config, magic_hour_max_concurrency=DEMO_SLOTS)
    Path(".local").mkdir(exist_ok=True)
    log_path = str(Path(".local/demo-functions.log").resolve())
    Path(log_path).write_text("")
    stack = LocalStack(config, function_log=log_path)
    print(f"starting the local stack (function logs: {os.path.relpath(log_path)})", flush=True)
    started = time.perf_counter()
    try:
        stack.start()
        print(
            f"ready in {time.perf_counter() - started:.1f}s: API {config.api_url}, "
            f"AWS {config.aws_url}, Magic Hour simulator {config.magic_hour_url}\n",
            flush=True,
        )
        return run_demo(config)
    finally:
        stack.stop()
        print("\nlocal stack stopped", flush=True)


def demo_png(width: int = 48, height: int = 48) -> bytes:
    """A small, valid RGB PNG (a gradient), made here so the demo needs no file of its own."""
    rows = b"".join(
        b"\x00" + bytes(value for x in range(width) for value in (x * 5 % 256, y * 5 % 256, 160))
        for y in range(height)
    )

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", header)
        + chunk(b"IDAT", zlib.compress(rows))
        + chunk(b"IEND", b"")
    )


def upload_face(config: LocalConfig, headers: dict[str, str], data: bytes) -> str | None:
    """POST /v1/uploads, then PUT the bytes to the presigned URL: the file_path is an input now."""
    answer = requests.post(
        f"{config.api_url}/v1/uploads", json={"extension": "png"}, headers=headers, timeout=10
    )
    if answer.status_code != 201:
        print(f"upload answered {answer.status_code}: {answer.text}")
        return None
    upload = answer.json()
    put = requests.put(upload["upload_url"], data=data, headers=upload["upload_headers"], timeout=30)
    if put.status_code != 200:
        print(f"PUT to the upload URL answered {put.status_code}")
        return None
    print(f"uploaded a {len(data)}-byte PNG -> {upload['file_path']}")
    return str(upload["file_path"])


def run_demo(config: LocalConfig) -> int:
    api_key = next(iter(config.api_keys))
    headers = {"x-api-key": api_key, "Content-Type": "application/json"}
    # Slow enough to watch the states go by, fast enough for a demo.
    requests.put(
        f"{config.magic_hour_url}/_sim/scenario", json={"render_seconds": 2.0}, timeout=5
    ).raise_for_status()

    face = demo_png()
    face_path = upload_face(config, headers, face)
    if face_path is None:
        return 1
    JOBS[0]["input"]["assets"]["image_file_path"] = face_path

    job_ids = []
    for job in JOBS:
        answer = requests.post(
            f"{config.api_url}/v1/jobs",
            json=job,
            headers={**headers, "Idempotency-Key": f"demo-{uuid.uuid4()}"},
            timeout=30,
        )
        body = answer.json()
        if answer.status_code != 202:
            print(f"submit {job['tool']} answered {answer.status_code}: {body}")
            return 1
        job_ids.append(body["job_id"])
        print(f"submitted {job['tool']:<20} -> {body['job_id']} ({answer.status_code}, {body['status']})")

    print()
    seen: dict[str, str] = {}
    final: dict[str, dict[str, Any]] = {}
    deadline = time.monotonic() + TIMEOUT_SECONDS
    while len(final) < len(job_ids) and time.monotonic() < deadline:
        for job_id in job_ids:
            if job_id in final:
                continue
            job = requests.get(f"{config.api_url}/v1/jobs/{job_id}", headers=headers, timeout=10).json()
            if seen.get(job_id) != job["status"]:
                seen[job_id] = job["status"]
                stored = f" ({len(job['outputs'])} stored)" if job["status"] == "downloading" else ""
                print(f"  {time.strftime('%H:%M:%S')}  {job['tool']:<20} {job['status']}{stored}", flush=True)
            if job["status"] in TERMINAL:
                final[job_id] = job
        time.sleep(0.2)

    simulated = {
        p["id"]: p
        for p in requests.get(f"{config.magic_hour_url}/_sim/projects", timeout=5).json()["projects"]
    }
    print("\nwhere the outputs landed:")
    ok = len(final) == len(job_ids)
    for job_id in job_ids:
        if job_id not in final:
            print(f"  {job_id}: did not finish within {TIMEOUT_SECONDS}s")
            ok = False
            continue
        job = final[job_id]
        print(f"  {job['tool']} ({job['kind']}, {job['status']}, {job['credits_charged']} credits)")
        for fetched in simulated.get(job["project_id"], {}).get("inputs", []):
            if not fetched["fetched"]:
                continue
            same = fetched["sha256"] == hashlib.sha256(face).hexdigest()
            ok = ok and same
            verdict = "the uploaded file" if same else "NOT the uploaded file"
            print(
                f"    Magic Hour fetched {fetched['field']}: {fetched['size_bytes']} bytes, "
                f"status {fetched['status_code']} ({verdict})"
            )
        served = {o["index"]: o["sha256"] for o in simulated.get(job["project_id"], {}).get("outputs", [])}
        for output in job["outputs"]:
            match = "matches" if served.get(output["index"]) == output["sha256"] else "DIFFERS from"
            ok = ok and match == "matches"
            print(f"    [{output['index']}] {output['s3_uri']}")
            print(
                f"        {output['size_bytes']} bytes  {output['content_type']}  sha256 {output['sha256']}"
                f"  ({match} what Magic Hour served)"
            )
        ok = ok and job["status"] == "completed"
    ok = run_batch_and_cancel(config, headers) and ok
    print("\ndemo " + ("succeeded" if ok else "FAILED"))
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
