"""The recovery cost of dying execution environments: how much longer a burst takes to settle
while environments are killed at random (local/chaos.py) than without.

Its own local stack, with a one-second schedule (the sweep is part of recovery) on free ports: the
same burst of jobs runs first undisturbed, then with N kills a minute for as long as it runs;
settle time is from the first POST until every job has ended (completed or failed). A client
retries a 5xx with the same Idempotency-Key, as the API asks.
"""

from __future__ import annotations

import dataclasses
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import requests

from local.chaos import EnvironmentKiller
from local.config import LocalConfig
from local.moto_process import free_port
from local.stack import LocalStack

_JOB: dict[str, Any] = {
    "tool": "ai-image-generator",
    "input": {"image_count": 1, "style": {"prompt": "a fox"}},
}
_TERMINAL = {"completed", "failed", "canceled"}
_DEADLINE_SECONDS = 300.0
_CLIENTS = 4


def _submit(api: str, key: str, idempotency_key: str) -> str | None:
    # A 5xx, a cut connection or a 409 idempotency_in_progress (the first attempt died holding
    # the key, until its lock expires with the function's timeout) is retried with the same key.
    deadline = time.monotonic() + 90
    while time.monotonic() < deadline:
        try:
            answer = requests.post(
                f"{api}/v1/jobs",
                json=_JOB,
                headers={"x-api-key": key, "Idempotency-Key": idempotency_key},
                timeout=60,
            )
        except requests.RequestException:
            continue
        if answer.status_code == 202:
            return str(answer.json()["job_id"])
        in_progress = answer.status_code == 409 and "idempotency_in_progress" in answer.text
        if answer.status_code < 500 and not in_progress:
            return None
        time.sleep(0.5)  # the client's back-off
    return None


def _burst(stack: LocalStack, key: str, jobs: int, kills_per_minute: float, label: str) -> dict[str, Any]:
    api = stack.config.api_url
    killer = EnvironmentKiller(stack.pools, kills_per_minute, seed=7)
    started = time.perf_counter()
    killer.start()
    try:
        with ThreadPoolExecutor(_CLIENTS) as pool:
            ids = list(pool.map(lambda i: _submit(api, key, f"{label}-{i}"), range(jobs)))
        wanted = [job_id for job_id in ids if job_id]
        statuses: dict[str, str] = {}
        deadline = time.monotonic() + _DEADLINE_SECONDS
        while time.monotonic() < deadline:
            for job_id in wanted:
                if statuses.get(job_id) not in _TERMINAL:
                    answer = requests.get(f"{api}/v1/jobs/{job_id}", headers={"x-api-key": key}, timeout=30)
                    statuses[job_id] = answer.json().get("status", "") if answer.ok else ""
            if all(statuses.get(job_id) in _TERMINAL for job_id in wanted):
                break
            time.sleep(0.25)
        settled = time.perf_counter() - started
    finally:
        killer.stop()
    values = list(statuses.values())
    return {
        "jobs": jobs,
        "accepted": len(wanted),
        "kills_per_minute": kills_per_minute,
        "environments_killed": len(killer.kills),
        "killed_mid_invocation": sum(kill.busy for kill in killer.kills),
        "settle_s": round(settled, 2),
        "completed": values.count("completed"),
        "failed": values.count("failed"),
        "unsettled": sum(value not in _TERMINAL for value in values),
    }


def run(jobs: int, kills_per_minute: float) -> tuple[dict[str, Any], list[str]]:
    config = dataclasses.replace(
        LocalConfig.from_environment(),
        api_port=free_port(),
        aws_port=free_port(),
        magic_hour_port=free_port(),
        stack_name="magic-hour-recovery",
        schedule_seconds=1,
    )
    log = Path(tempfile.mkdtemp(prefix="recovery-")) / "functions.log"
    stack = LocalStack(config, function_log=str(log))
    key = next(iter(config.api_keys))
    print(
        f"  recovery: {jobs} jobs, without and with {kills_per_minute:g} kills/min ...",
        file=sys.stderr,
        flush=True,
    )
    stack.start(warm=True)
    try:
        requests.put(f"{config.magic_hour_url}/_sim/scenario", json={"render_seconds": 0.5}, timeout=5)
        calm = _burst(stack, key, jobs, 0, "calm")
        chaos = _burst(stack, key, jobs, kills_per_minute, "chaos")
    finally:
        stack.stop()
    failures = [
        f"recovery: {row['unsettled']} of {row['accepted']} jobs unsettled ({name})"
        for name, row in (("without kills", calm), ("with kills", chaos))
        if row["unsettled"] or row["accepted"] < row["jobs"]
    ]
    ratio = round(chaos["settle_s"] / calm["settle_s"], 2) if calm["settle_s"] else None
    return {"without_kills": calm, "with_kills": chaos, "settle_ratio": ratio}, failures
