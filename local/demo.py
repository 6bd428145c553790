"""`make demo`: the whole round trip on this machine, narrated.

Starts the local stack, submits a video, an image (several outputs) and an audio job through the
HTTP API, shows each job move, prints where every output landed in S3 with its size and sha256
(checked against what the simulator served), and stops the stack.
"""

from __future__ import annotations

import os
import sys
import time
import uuid
from pathlib import Path
from typing import Any

import requests

from local.config import LocalConfig
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


def run_demo(config: LocalConfig) -> int:
    api_key = next(iter(config.api_keys))
    headers = {"x-api-key": api_key, "Content-Type": "application/json"}
    # Slow enough to watch the states go by, fast enough for a demo.
    requests.put(
        f"{config.magic_hour_url}/_sim/scenario", json={"render_seconds": 2.0}, timeout=5
    ).raise_for_status()

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
    print("\ndemo " + ("succeeded" if ok else "FAILED"))
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
