"""`python -m bench.sweep` (also part of `make bench`): the sweep's capacity, and how long client B's
lost webhook takes to recover while client A holds thousands of watched jobs.

One local stack with a `--period` schedule (the sweep's thresholds scale with it: quiet 1 period,
back-off up to 4). Client A gets `--watched` `rendering` jobs on one long render at the simulator,
written straight into the jobs table (local/watched.py), all overdue at once: the worst moment,
every one of A's checks ahead of B's. Then B submits one job whose webhook the simulator never
sends. Reported: B's time from submission to `completed` (in seconds and periods; it is due one
period after its last move) and its ratio to the baseline (the same, on the same stack, before A's
jobs were written); the sweep's runs from the function log (checks, seconds, checks per second;
capacity = the busiest run's rate) and its ratio to a bare check's reads on the same stack (the job
from moto, the project from the simulator, as many at once as the sweep; no logic, no writes); and
the simulator's GET count.

The local figures are bound by the moto server (about 2 ms per item a query returns, on a shared
2-core machine), not by DynamoDB; they are an honest floor, and the runbook's capacity line uses
them as such. Bounded: fixed counts, timeouts on every request, B waited for at most 12 periods.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import requests

import local  # noqa: F401 - puts shared/ on sys.path
from bench.harness import free_port
from local import watched
from local.config import LocalConfig
from local.resources import client
from local.stack import LocalStack
from pipeline.platform.settings import get_settings

VOICE = {"tool": "ai-voice-generator", "input": {"style": {"prompt": "hi", "voice_name": "Elon Musk"}}}
KEYS = {"key-a": "client-a", "key-b": "client-b"}


def _sweep_runs(log: Path) -> list[dict[str, Any]]:
    runs = []
    for line in log.read_text().splitlines():
        if '"sweep done"' not in line:
            continue
        try:
            record = json.loads(line)
        except ValueError:
            continue
        if record.get("service") == "sweeper":
            runs.append(
                {k: record.get(k) for k in ("checked", "seconds", "stopped", "oldest_overdue_seconds")}
            )
    return runs


def _recover(api: str, key: str, period: float, phase: str) -> tuple[str, float | None]:
    """Client B submits one job whose webhook never comes: its status, and seconds until it ended
    (None: not within 12 periods). A 5xx (a create slow on the loaded machine) is retried with the
    same Idempotency-Key, as a client would."""
    submitted = time.monotonic()
    headers = {"x-api-key": key, "Idempotency-Key": f"bench-sweep-{phase}"}
    for _ in range(3):
        answer = requests.post(f"{api}/v1/jobs", json=VOICE, headers=headers, timeout=60)
        if answer.status_code < 500:
            break
    if answer.status_code != 202:
        return f"http_{answer.status_code}", None
    job_id = answer.json()["job_id"]
    status = ""
    while time.monotonic() - submitted < 12 * period:
        status = requests.get(f"{api}/v1/jobs/{job_id}", headers={"x-api-key": key}, timeout=10).json()[
            "status"
        ]
        if status in ("completed", "failed", "canceled"):
            return status, time.monotonic() - submitted
        time.sleep(0.25)
    return status, None


def _raw_checks_per_s(config: LocalConfig, table: str, job_ids: list[str], project: str) -> float:
    """The reference for the capacity, same stack and moment: a bare check's reads (the job, strongly
    consistent, and its project at the simulator), `sweep_concurrency` at once, no logic, no writes."""
    dynamodb = client("dynamodb", config.aws_url, config.region)
    workers = get_settings().sweep_concurrency
    session = requests.Session()
    url = f"{config.magic_hour_url}/v1/audio-projects/{project}"
    auth = {"Authorization": f"Bearer {config.magic_hour_api_key}"}

    def one(job_id: str) -> None:
        dynamodb.get_item(TableName=table, Key={"job_id": {"S": job_id}}, ConsistentRead=True)
        session.get(url, headers=auth, timeout=10).raise_for_status()

    began = time.monotonic()
    with ThreadPoolExecutor(max_workers=workers) as pool:
        list(pool.map(one, job_ids))
    return len(job_ids) / (time.monotonic() - began)


def run(watched_jobs: int = 10_000, period: float = 20.0) -> dict[str, Any]:
    config = dataclasses.replace(
        LocalConfig.from_environment(),
        api_port=free_port(),
        aws_port=free_port(),
        magic_hour_port=free_port(),
        api_keys=dict(KEYS),
        stack_name="bench-sweep",
        schedule_seconds=period,
    )
    log = Path(tempfile.mkdtemp()) / "functions.log"
    stack = LocalStack(config, function_log=str(log))
    stack.start()
    try:
        sim, api = config.magic_hour_url, config.api_url
        project = watched.long_render(sim, config.magic_hour_api_key)
        requests.patch(
            f"{sim}/_sim/scenario", json={"render_seconds": 0.2, "webhook_send": False}, timeout=5
        ).raise_for_status()
        # The baseline, same stack: B's lost webhook with A holding nothing.
        base_status, baseline = _recover(api, "key-b", period, "baseline")
        seeding = time.monotonic()
        table = stack.resolver.refs["JobsTable"]
        seeded = watched.seed(
            config.aws_url, config.region, table, "client-a", project, watched_jobs, int(time.time()) - 60
        )
        seeded_s = time.monotonic() - seeding
        status, recovered = _recover(api, "key-b", period, "loaded")
        # Capacity comes from finished runs: the first one reads A's backlog while it checks.
        waited = time.monotonic()
        while not any(r.get("checked") for r in _sweep_runs(log)) and time.monotonic() - waited < 8 * period:
            time.sleep(1)
        runs = _sweep_runs(log)
        rates = [r["checked"] / r["seconds"] for r in runs if r.get("checked") and r.get("seconds")]
        capacity = max(rates) if rates else None
        raw = _raw_checks_per_s(config, table, seeded[:400], project)
        return {
            "watched_by_a": watched_jobs,
            "period_s": period,
            "seeded_s": round(seeded_s, 1),
            "b_baseline_status": base_status,
            "b_baseline_s": _round(baseline),
            "b_baseline_periods": _round(baseline, period),
            "b_status": status,
            "b_recovered_s": _round(recovered),
            "b_recovered_periods": _round(recovered, period),
            "b_ratio_to_baseline": _round(recovered, baseline) if baseline else None,
            "goal_periods": 2,
            "sweep_capacity_checks_per_s": _round(capacity),
            "raw_checks_per_s": _round(raw),
            "capacity_ratio_to_raw": _round(capacity, raw),
            "sweep_runs": runs,
            "magic_hour_gets": requests.get(f"{sim}/_sim/stats", timeout=5).json().get("gets"),
        }
    finally:
        stack.stop()


def _round(value: float | None, per: float | None = 1.0) -> float | None:
    return round(value / per, 2) if value is not None and per else None


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.sweep", description=__doc__.split("\n\n")[0])
    parser.add_argument("--watched", type=int, default=10_000, help="client A's watched jobs (default 10000)")
    parser.add_argument(
        "--period", type=float, default=20.0, help="the local schedule in seconds (default 20)"
    )
    options = parser.parse_args()
    print(json.dumps(run(options.watched, options.period), indent=2))


if __name__ == "__main__":
    main()
