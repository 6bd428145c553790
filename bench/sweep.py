"""`python -m bench.sweep` (also part of `make bench`): the sweep's capacity, and how long client B's
lost webhook takes to recover while client A holds thousands of watched jobs.

One local stack with a `--period` schedule (the sweep's thresholds scale with it: quiet 1 period,
back-off up to 4). Client A gets `--watched` `rendering` jobs on one long render at the simulator,
written straight into the jobs table (local/watched.py), all overdue at once: the worst moment,
every one of A's checks ahead of B's. Then B submits one job whose webhook the simulator never
sends. Reported: B's time from submission to `completed` (in seconds and periods; it is due one
period after its last move), the sweep's runs from the function log (checks, seconds, checks per
second; capacity = the busiest run's rate), and the simulator's GET count.

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
from pathlib import Path
from typing import Any

import requests

import local  # noqa: F401 - puts shared/ on sys.path
from bench.harness import free_port
from local import watched
from local.config import LocalConfig
from local.stack import LocalStack

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
        seeding = time.monotonic()
        table = stack.resolver.refs["JobsTable"]
        watched.seed(
            config.aws_url, config.region, table, "client-a", project, watched_jobs, int(time.time()) - 60
        )
        seeded_s = time.monotonic() - seeding
        requests.patch(
            f"{sim}/_sim/scenario", json={"render_seconds": 0.2, "webhook_send": False}, timeout=5
        ).raise_for_status()
        submitted = time.monotonic()
        job_id = requests.post(
            f"{api}/v1/jobs", json=VOICE, headers={"x-api-key": "key-b"}, timeout=30
        ).json()["job_id"]
        status, recovered = "", None
        while time.monotonic() - submitted < 12 * period:
            status = requests.get(
                f"{api}/v1/jobs/{job_id}", headers={"x-api-key": "key-b"}, timeout=10
            ).json()["status"]
            if status in ("completed", "failed", "canceled"):
                recovered = time.monotonic() - submitted
                break
            time.sleep(0.25)
        # Capacity comes from finished runs: the first one reads A's whole backlog, then checks.
        waited = time.monotonic()
        while not any(r.get("checked") for r in _sweep_runs(log)) and time.monotonic() - waited < 8 * period:
            time.sleep(1)
        runs = _sweep_runs(log)
        rates = [r["checked"] / r["seconds"] for r in runs if r.get("checked") and r.get("seconds")]
        return {
            "watched_by_a": watched_jobs,
            "period_s": period,
            "seeded_s": round(seeded_s, 1),
            "b_status": status,
            "b_recovered_s": round(recovered, 1) if recovered is not None else None,
            "b_recovered_periods": round(recovered / period, 2) if recovered is not None else None,
            "goal_periods": 2,
            "sweep_capacity_checks_per_s": round(max(rates), 1) if rates else None,
            "sweep_runs": runs,
            "magic_hour_gets": requests.get(f"{sim}/_sim/stats", timeout=5).json().get("gets"),
        }
    finally:
        stack.stop()


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
