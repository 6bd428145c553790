"""Request latency through the local API gateway, measured at the client, one request at a time,
each on a new connection, with warm functions (every worker of the pool has served a request
before timing starts).

Submit: POST /v1/jobs, each with its own Idempotency-Key; includes the function's call to the
simulator's create. Webhook: deliveries signed with the stack's webhook secret
(pipeline.webhook.signature.sign) posted to /webhooks/magic-hour for the jobs the submit benchmark
created: the first `started` per job moves it queued -> rendering, later ones are duplicates; a few
`completed` move jobs to downloading and queue their download tasks.
"""

from __future__ import annotations

import sys
import threading
import time
import uuid
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

import requests

from bench.harness import VIDEO_JOB, BenchFailure, Harness
from bench.units import summarize_ms


@dataclass(frozen=True)
class SubmittedJob:
    job_id: str
    project_id: str


def _workers(harness: Harness, function: str) -> int:
    return harness.stack.pools[function].workers


def _warm_up(harness: Harness, function: str, request: Any, rounds: int = 3) -> list[float]:
    """Enough concurrent requests that every worker of the pool serves at least one."""
    workers = _workers(harness, function)
    with ThreadPoolExecutor(max_workers=workers) as pool:
        return list(pool.map(lambda _: request(), range(workers * rounds)))


def submit_latency(harness: Harness, count: int) -> tuple[dict[str, Any], list[SubmittedJob], list[str]]:
    # Webhooks off: the jobs stay `queued` for the webhook benchmark; fast renders so their
    # projects are complete (with download URLs) when it sends `completed`.
    harness.scenario(webhook_send=False, render_seconds=0.1, outputs=1, output_bytes=65536)
    jobs: list[SubmittedJob] = []
    statuses: Counter[int] = Counter()
    lock = threading.Lock()  # the warm-up runs concurrently

    def one() -> float:
        started = time.perf_counter()
        answer = harness.submit(VIDEO_JOB)
        elapsed = (time.perf_counter() - started) * 1000
        with lock:
            statuses[answer.status_code] += 1
            if answer.status_code == 202:
                body = answer.json()
                jobs.append(SubmittedJob(body["job_id"], body["project_id"]))
        return elapsed

    warm = _warm_up(harness, "SubmitFunction", one)
    latencies = [one() for _ in range(count)]
    failures = []
    if set(statuses) != {202}:
        failures.append(f"submit: answers other than 202: {dict(statuses)}")
    summary = {
        **summarize_ms(latencies),
        "warm_up_requests": len(warm),
        "warm_up_max_ms": round(max(warm), 2),
        "statuses": {str(code): n for code, n in statuses.items()},
    }
    return summary, jobs, failures


def webhook_latency(
    harness: Harness, jobs: list[SubmittedJob], started_count: int, completed_count: int
) -> tuple[dict[str, Any], list[str]]:
    if not jobs:
        raise BenchFailure("no jobs to deliver webhooks for (the submit benchmark made none)")
    payloads: dict[str, dict[str, Any]] = {}
    for job in jobs:
        harness.wait_sim_status(job.project_id, {"complete"}, timeout=30)
        payloads[job.job_id] = harness.magic_hour_project("video", job.project_id)

    def deliver(event_type: str, payload: dict[str, Any]) -> tuple[float, int, str]:
        started = time.perf_counter()
        answer = harness.post_webhook(event_type, payload)
        elapsed = (time.perf_counter() - started) * 1000
        outcome = answer.json().get("outcome", "") if answer.status_code == 200 else ""
        return elapsed, answer.status_code, str(outcome)

    # Warm-up: signed events for a project nobody knows (answered 200, unknown_project).
    unknown = {**next(iter(payloads.values())), "id": f"bench-unknown-{uuid.uuid4().hex}", "name": None}
    warm = _warm_up(harness, "WebhookFunction", lambda: deliver("video.started", unknown)[0])

    outcomes: Counter[str] = Counter()
    statuses: Counter[int] = Counter()
    by_outcome: dict[str, list[float]] = {}
    started_ms: list[float] = []
    for index in range(started_count):
        job = jobs[index % len(jobs)]
        payload = {**payloads[job.job_id], "status": "rendering", "downloads": []}
        elapsed, status, outcome = deliver("video.started", payload)
        started_ms.append(elapsed)
        statuses[status] += 1
        outcomes[f"started:{outcome}"] += 1
        by_outcome.setdefault(outcome, []).append(elapsed)
    completed_ms: list[float] = []
    for job in jobs[:completed_count]:
        elapsed, status, outcome = deliver("video.completed", payloads[job.job_id])
        completed_ms.append(elapsed)
        statuses[status] += 1
        outcomes[f"completed:{outcome}"] += 1
    failures = []
    if set(statuses) != {200}:
        failures.append(f"webhook: answers other than 200: {dict(statuses)}")
    summary = {
        "started": summarize_ms(started_ms),
        "started_by_outcome": {name: summarize_ms(values) for name, values in sorted(by_outcome.items())},
        "completed": summarize_ms(completed_ms),
        "outcomes": dict(sorted(outcomes.items())),
        "warm_up_requests": len(warm),
        "warm_up_max_ms": round(max(warm), 2),
    }
    print(f"  webhook: {sum(statuses.values())} deliveries {dict(outcomes)}", file=sys.stderr, flush=True)
    return summary, failures


def moto_reference(harness: Harness, count: int = 50) -> dict[str, Any]:
    """For scale: one DynamoDB GetItem on the jobs table against the moto server, from here.
    Every request above makes several such calls, so moto's speed sets most of their latency."""
    dynamodb = harness.aws("dynamodb")
    table = harness.stack.resolver.refs["JobsTable"]
    key_name = next(
        item["AttributeName"]
        for item in dynamodb.describe_table(TableName=table)["Table"]["KeySchema"]
        if item["KeyType"] == "HASH"
    )
    latencies = []
    for _ in range(count):
        started = time.perf_counter()
        dynamodb.get_item(TableName=table, Key={key_name: {"S": f"bench-{uuid.uuid4().hex}"}})
        latencies.append((time.perf_counter() - started) * 1000)
    return summarize_ms(latencies)


def gateway_reference(harness: Harness, count: int = 30) -> dict[str, Any]:
    """The gateway alone (a route nobody serves, so no function runs): on a new connection per
    request, and on one kept-alive connection."""
    url = f"{harness.config.api_url}/bench-no-such-route"
    headers = harness.headers()

    def timed(get: Any) -> float:
        started = time.perf_counter()
        get(url, headers=headers, timeout=10)
        return (time.perf_counter() - started) * 1000

    fresh = [timed(requests.get) for _ in range(count)]
    with requests.Session() as session:
        kept = [timed(session.get) for _ in range(count)]
    return {"new_connection": summarize_ms(fresh), "keep_alive": summarize_ms(kept)}
