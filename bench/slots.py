"""`python -m bench.slots`: a burst of jobs against Magic Hour's plan limit, through the local stack.

Two runs, each on a fresh stack: the simulator refuses creates beyond its `plan_concurrency` (429),
once with the pipeline's own limit set to the plan's (`MagicHourMaxConcurrency`) and once without
(the pipeline only learns of the limit from the 429s). Client A submits a burst at once, then
client B submits one job. Printed per run: whether every job completed, the simulator's
`max_active` and `rejected_creates`, the time from the first submit until the last job completed
next to the ideal (ceil(jobs / plan) x render time), and how many of A's jobs Magic Hour started
between B's submission and B's own project (its wait, in slot releases).

Bounded: a fixed number of jobs, every request with a timeout, each run with a deadline.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import math
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

import requests

import local  # noqa: F401 - puts shared/ on sys.path
from local.config import LocalConfig
from local.moto_process import free_port
from local.stack import LocalStack
from pipeline.platform import ids

VOICE = {"tool": "ai-voice-generator", "input": {"style": {"prompt": "hi", "voice_name": "Elon Musk"}}}
KEYS = {"key-a": "client-a", "key-b": "client-b"}


def _run(jobs: int, plan: int, render: float, own_limit: int) -> dict[str, Any]:
    config = dataclasses.replace(
        LocalConfig.from_environment(),
        api_port=free_port(),
        aws_port=free_port(),
        magic_hour_port=free_port(),
        api_keys=dict(KEYS),
        stack_name="bench-slots",
        schedule_seconds=5,
        magic_hour_max_concurrency=own_limit,
        create_deadline_seconds=600,
    )
    # The functions' own log lines go to a file, not into the figures.
    stack = LocalStack(config, function_log=str(Path(tempfile.mkdtemp()) / "functions.log"))
    stack.start()
    try:
        sim, api = config.magic_hour_url, config.api_url
        requests.put(
            f"{sim}/_sim/scenario", json={"render_seconds": render, "plan_concurrency": plan}, timeout=5
        ).raise_for_status()
        answers: list[dict[str, Any]] = [{} for _ in range(jobs)]

        def submit(i: int) -> None:
            answers[i] = requests.post(
                f"{api}/v1/jobs", json=VOICE, headers={"x-api-key": "key-a"}, timeout=60
            ).json()

        started = time.monotonic()
        threads = [threading.Thread(target=submit, args=(i,)) for i in range(jobs)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        single = requests.post(
            f"{api}/v1/jobs", json=VOICE, headers={"x-api-key": "key-b"}, timeout=60
        ).json()
        pending = {(a["job_id"], "key-a") for a in answers} | {(single["job_id"], "key-b")}
        statuses: dict[str, str] = {}
        deadline = time.monotonic() + 600
        while pending and time.monotonic() < deadline:
            for job_id, key in list(pending):
                job = requests.get(f"{api}/v1/jobs/{job_id}", headers={"x-api-key": key}, timeout=10).json()
                if job["status"] in ("completed", "failed", "canceled"):
                    statuses[job_id] = job["status"]
                    pending.discard((job_id, key))
            time.sleep(0.25)
        elapsed = time.monotonic() - started
        stats = requests.get(f"{sim}/_sim/stats", timeout=5).json()
        projects = requests.get(f"{sim}/_sim/projects", timeout=30).json()["projects"]
        order = sorted(projects, key=lambda p: p["created_at"])
        names = [ids.job_id_from_project_name(p["name"]) for p in order]
        single_at = order[names.index(single["job_id"])]["created_at"] if single["job_id"] in names else None
        overtook = sum(single["created_at"] < p["created_at"] < (single_at or "~") for p in order)
        total = jobs + 1
        return {
            "own_limit": own_limit,
            "plan_concurrency": plan,
            "jobs": total,
            "completed": sum(status == "completed" for status in statuses.values()),
            "unfinished": len(pending),
            "max_active": stats.get("max_active"),
            "rejected_creates_429": stats.get("rejected_creates"),
            "creates": stats.get("creates"),
            "last_completed_s": round(elapsed, 1),
            "ideal_s": round(math.ceil(total / plan) * render, 1),
            "single_job_waited_slot_releases": overtook,
        }
    finally:
        stack.stop()


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.slots", description=__doc__.split("\n\n")[0])
    parser.add_argument("--jobs", type=int, default=20)
    parser.add_argument("--plan", type=int, default=3)
    parser.add_argument("--render", type=float, default=3.0)
    options = parser.parse_args()
    results = [_run(options.jobs, options.plan, options.render, own) for own in (options.plan, 0)]
    for result in results:
        print(json.dumps(result))


if __name__ == "__main__":
    main()
