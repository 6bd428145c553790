"""The second half of `make demo`: a small batch and a cancel (local/demo.py runs it).

The demo's stack has two Magic Hour slots (unless LOCAL_MAGIC_HOUR_MAX_CONCURRENCY says
otherwise), so the batch's four jobs go two at a time through the fair queue, and a job submitted
while they wait is `waiting` too: the one job that can still be cancelled (Magic Hour has no
cancellation API), at no cost. The batch's results file is read from its presigned `results_url`.
"""

from __future__ import annotations

import json
import time
from typing import Any

import requests

from local.config import LocalConfig

DEMO_SLOTS = 2
BATCH_JOBS: list[dict[str, Any]] = [
    {
        "custom_id": f"poster-{n}",
        "tool": "ai-image-generator",
        "input": {"image_count": 1, "style": {"prompt": f"poster {n}: a lighthouse at dawn"}},
    }
    for n in range(1, 5)
]
TO_CANCEL = {
    "tool": "ai-voice-generator",
    "name": "demo cancel",
    "input": {"style": {"prompt": "This job is cancelled before it is sent.", "voice_name": "Elon Musk"}},
}
TIMEOUT_SECONDS = 60


def run_batch_and_cancel(config: LocalConfig, headers: dict[str, str]) -> bool:
    api = config.api_url
    answer = requests.post(f"{api}/v1/batches", json={"jobs": BATCH_JOBS}, headers=headers, timeout=30)
    if answer.status_code != 202:
        print(f"batch answered {answer.status_code}: {answer.text}")
        return False
    batch_id = answer.json()["batch_id"]
    print(f"\nsubmitted a batch of {len(BATCH_JOBS)} image jobs -> {batch_id} ({answer.json()['status']})")

    def counts() -> dict[str, int]:
        batch = requests.get(f"{api}/v1/batches/{batch_id}", headers=headers, timeout=10).json()
        return {name: n for name, n in batch["counts"].items() if n and name != "total"}

    # While the batch's jobs wait for a slot, so does a new job: the one kind a cancel stops.
    deadline = time.monotonic() + TIMEOUT_SECONDS
    shown = counts()
    while not shown.get("waiting") and time.monotonic() < deadline:
        time.sleep(0.1)
        shown = counts()
    canceled = cancel_a_waiting_job(config, headers) if shown.get("waiting") else False

    last: dict[str, Any] = {}
    batch: dict[str, Any] = {}
    while time.monotonic() < deadline:
        batch = requests.get(f"{api}/v1/batches/{batch_id}", headers=headers, timeout=10).json()
        now = {name: n for name, n in batch["counts"].items() if n and name != "total"}
        if now != last:
            print(f"  {time.strftime('%H:%M:%S')}  batch {batch['status']:<9} {now}", flush=True)
            last = now
        if batch["status"] in ("completed", "canceled") and batch.get("results_url"):
            break
        time.sleep(0.2)
    if batch.get("status") != "completed" or not batch.get("results_url"):
        print(f"  the batch did not complete within {TIMEOUT_SECONDS}s")
        return False
    results = requests.get(batch["results_url"], timeout=10)
    print(f"the batch's results file ({batch['credits_charged']} credits in all), one line per job:")
    ok = results.status_code == 200
    for line in results.text.splitlines():
        row = json.loads(line)
        ok = ok and row["status"] == "completed"
        outputs = ", ".join(output["s3_uri"] for output in row["outputs"])
        print(f"  {row['custom_id']}  {row['job_id']}  {row['status']}  {outputs}")
    return ok and canceled


def cancel_a_waiting_job(config: LocalConfig, headers: dict[str, str]) -> bool:
    api = config.api_url
    submitted = requests.post(f"{api}/v1/jobs", json=TO_CANCEL, headers=headers, timeout=30).json()
    print(f"submitted {TO_CANCEL['tool']:<20} -> {submitted['job_id']} ({submitted['status']}: no slot free)")
    if submitted["status"] != "waiting":
        print("  it was sent to Magic Hour already, which has no cancellation API: nothing to cancel")
        return False
    answer = requests.post(f"{api}/v1/jobs/{submitted['job_id']}/cancel", headers=headers, timeout=10)
    job = answer.json()
    if answer.status_code != 202:
        print(f"  cancel answered {answer.status_code}: {job}")
        return False
    print(
        f"  cancelled ({answer.status_code}): {job['status']}, {job['error']['code']}, "
        f"{job['credits_charged'] or 0} credits, never sent to Magic Hour"
    )
    return job["status"] == "canceled" and job["project_id"] is None
