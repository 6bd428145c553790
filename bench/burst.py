"""Pipeline throughput: a burst of jobs through the whole local stack (gateway, submit, simulator
webhooks, webhook, download queue and its event source mapping, downloader) until every job is
`completed`, with Magic Hour API calls per job counted by the simulator (GET /_sim/stats), DynamoDB
and SQS calls per operation counted by the local stack's proxy (local/faults.py), and each
function's invocations timed where the local runtime runs them (FunctionPool.invoke, so the figure
includes the hop to the worker process), for the cost per 1,000 jobs.
"""

from __future__ import annotations

import statistics
import sys
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import requests

from bench.harness import Harness
from bench.procfs import memory_kib
from bench.units import kib_to_mib

# One small image per job: the burst measures the pipeline's own work, not the file size.
BURST_JOB: dict[str, Any] = {
    "tool": "ai-image-generator",
    "name": "bench burst",
    "input": {"image_count": 1, "style": {"prompt": "a fox"}},
}
_CLIENTS = 8
_DEADLINE_SECONDS = 300.0


def _timed_pools(harness: Harness) -> dict[str, list[float]]:
    durations: dict[str, list[float]] = {}
    for name, pool in harness.stack.pools.items():
        original = pool.invoke
        seen = durations.setdefault(name, [])

        def timed(event: dict[str, Any], _original: Any = original, _seen: list[float] = seen) -> Any:
            result = _original(event)
            _seen.append(result.duration_ms)
            return result

        pool.invoke = timed  # type: ignore[method-assign]
    return durations


def _restore_pools(harness: Harness) -> None:
    for pool in harness.stack.pools.values():
        pool.__dict__.pop("invoke", None)


def _completed(harness: Harness, wanted: set[str]) -> tuple[int, int]:
    """(completed, failed) among `wanted`, from our own list endpoint (newest first, 100 a page)."""
    counts = []
    for status in ("completed", "failed"):
        found = 0
        cursor: str | None = None
        for _ in range(50):
            params: dict[str, Any] = {
                "status": status,
                "limit": 100,
                **({"cursor": cursor} if cursor else {}),
            }
            answer = requests.get(
                f"{harness.config.api_url}/v1/jobs", params=params, headers=harness.headers(), timeout=30
            )
            answer.raise_for_status()
            page = answer.json()
            found += sum(1 for job in page["jobs"] if job["job_id"] in wanted)
            cursor = page.get("next_cursor")
            if not cursor:
                break
        counts.append(found)
    return counts[0], counts[1]


def _peak_rss_mib(harness: Harness, function: str) -> float | None:
    peaks = [memory_kib(pid).get("VmHWM") for pid in harness.worker_pids(function)]
    found = [peak for peak in peaks if peak]
    return kib_to_mib(max(found)) if found else None


def run(harness: Harness, jobs: int) -> tuple[dict[str, Any], list[str]]:
    harness.scenario(render_seconds=0.5, outputs=1, output_bytes=65536)
    stats_before = harness.sim_stats()
    aws_before = harness.aws_calls()
    durations = _timed_pools(harness)
    print(f"  burst: {jobs} jobs ...", file=sys.stderr, flush=True)

    def submit(_: int) -> tuple[int, str | None]:
        answer = requests.post(
            f"{harness.config.api_url}/v1/jobs",
            json=BURST_JOB,
            headers=harness.headers(**{"Idempotency-Key": f"burst-{uuid.uuid4()}"}),
            timeout=60,
        )
        return answer.status_code, answer.json().get("job_id") if answer.status_code == 202 else None

    started = time.perf_counter()
    try:
        with ThreadPoolExecutor(_CLIENTS) as pool:
            answers = list(pool.map(submit, range(jobs)))
        submitted_s = time.perf_counter() - started
        wanted = {job_id for status, job_id in answers if job_id}
        refused = [status for status, job_id in answers if not job_id]
        done = failed = 0
        deadline = time.monotonic() + _DEADLINE_SECONDS
        while time.monotonic() < deadline:
            done, failed = _completed(harness, wanted)
            if done + failed >= len(wanted):
                break
            time.sleep(0.25)
        elapsed = time.perf_counter() - started
    finally:
        _restore_pools(harness)
    stats_after = harness.sim_stats()
    aws_after = harness.aws_calls()
    aws_calls = {
        name: aws_after[name] - aws_before.get(name, 0)
        for name in sorted(aws_after)
        if aws_after[name] - aws_before.get(name, 0)
    }
    calls = {name: stats_after.get(name, 0) - stats_before.get(name, 0) for name in stats_after}
    failures: list[str] = []
    if refused:
        failures.append(f"burst: {len(refused)} submits refused: {sorted(set(refused))}")
    if failed or done < len(wanted):
        failures.append(f"burst: {done} of {len(wanted)} completed ({failed} failed) in {elapsed:.0f}s")
    per_function = {
        name: {
            "invocations": len(values),
            "per_job": round(len(values) / max(1, len(wanted)), 2),
            "median_ms": round(statistics.median(values), 1) if values else None,
            "mean_ms": round(statistics.fmean(values), 1) if values else None,
            "total_s": round(sum(values) / 1000, 2),
            # VmHWM of each warm worker: its peak since it started (import included).
            "peak_rss_mib": _peak_rss_mib(harness, name),
        }
        for name, values in sorted(durations.items())
    }
    summary = {
        "jobs": jobs,
        "completed": done,
        "failed": failed,
        "submitted_s": round(submitted_s, 2),
        "all_completed_s": round(elapsed, 2),
        "jobs_per_s": round(done / elapsed, 1) if elapsed else None,
        "magic_hour_calls": calls,
        "creates_per_job": round(calls.get("creates", 0) / max(1, len(wanted)), 3),
        "gets_per_job": round(calls.get("gets", 0) / max(1, len(wanted)), 3),
        "functions": per_function,
        "aws_calls": aws_calls,
        "aws_calls_per_job": {
            name: round(count / max(1, len(wanted)), 2) for name, count in aws_calls.items()
        },
    }
    if not failures and summary["gets_per_job"] != 0:
        failures.append(f"burst: {calls.get('gets')} Magic Hour GETs on the happy path (goal 0)")
    return summary, failures
