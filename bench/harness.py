"""The local stack for the benchmarks, and the few requests every benchmark makes against it.

The stack is local.stack.LocalStack, unchanged, on free ports. Two things differ from `make local`:
- the SQS event source mapping of the download queue is stopped after the burst (bench/burst.py,
  which needs the whole pipeline), so the benchmark itself receives each genuine download message
  and hands it to a fresh, measured process (see bench/download.py); webhooks still queue the
  downloads exactly as they would;
- the schedules' period (LOCAL_SCHEDULE_SECONDS) is an hour, so no scheduled function (the sweep)
  runs during the few minutes of measurements and competes with them for the two cores.
"""

from __future__ import annotations

import dataclasses
import json
import time
import uuid
from pathlib import Path
from typing import Any

import requests

import local  # noqa: F401 - puts shared/ on sys.path, as in Lambda's /opt/python
from local.config import LocalConfig
from local.moto_process import free_port
from local.resources import client
from local.sqs_trigger import QueuePoller
from local.stack import LocalStack
from local.template import FunctionSpec
from pipeline.webhook.signature import sign

DOWNLOAD_FUNCTION = "DownloaderFunction"
# A video job with one output: the downloader's case that matters for size.
VIDEO_JOB: dict[str, Any] = {
    "tool": "face-swap",
    "name": "bench video",
    "input": {
        "start_seconds": 0,
        "end_seconds": 4,
        "assets": {
            "video_source": "file",
            "video_file_path": "https://example.com/in.mp4",
            "image_file_path": "https://example.com/face.png",
        },
    },
    "metadata": {"bench": "true"},
}
SCHEDULE_SECONDS = 3600.0
TIMESTAMP_HEADER = "magic-hour-event-timestamp"
SIGNATURE_HEADER = "magic-hour-event-signature"


class BenchFailure(Exception):
    """Something the benchmark checks did not hold; the message says what, with evidence."""


def encode_event(event_type: str, payload: dict[str, Any]) -> bytes:
    """The exact bytes Magic Hour signs and sends: compact JSON with exactly two keys."""
    return json.dumps({"type": event_type, "payload": payload}, separators=(",", ":")).encode()


class Harness:
    def __init__(self, log_path: Path) -> None:
        self.config = dataclasses.replace(
            LocalConfig.from_environment(),
            api_port=free_port(),
            aws_port=free_port(),
            magic_hour_port=free_port(),
            stack_name="magic-hour-bench",
            schedule_seconds=SCHEDULE_SECONDS,
        )
        self.log_path = log_path
        # fault_injection puts the local stack's counting proxy between the functions and moto for
        # DynamoDB and SQS (no faults are injected): the burst reads its per-operation counts.
        self.stack = LocalStack(self.config, function_log=str(log_path), fault_injection=True)
        self.api_key = next(iter(self.config.api_keys))
        self.started_seconds = 0.0

    # -- lifecycle ---------------------------------------------------------------------------

    def start(self) -> None:
        started = time.perf_counter()
        self.stack.start(warm=True)
        self.started_seconds = time.perf_counter() - started

    def stop_download_trigger(self) -> None:
        """From now on the benchmark receives the download messages itself (after the burst,
        which needs the whole pipeline, has run)."""
        for poller in self.download_pollers():
            # Its last long poll (1 s) ends on an empty queue: every burst job is completed.
            poller.stop(wait_seconds=5)

    def stop(self) -> None:
        self.stack.stop()

    # -- facts about the stack ---------------------------------------------------------------

    def spec(self, function: str) -> FunctionSpec:
        return self.stack.pools[function].spec

    def environment(self, function: str) -> dict[str, str]:
        return dict(self.stack.pools[function].environment)

    def functions(self) -> list[str]:
        return sorted(self.stack.pools)

    def download_pollers(self) -> list[QueuePoller]:
        return [poller for poller in self.stack.pollers if poller.trigger.function == DOWNLOAD_FUNCTION]

    def aws_calls(self) -> dict[str, int]:
        """DynamoDB and SQS calls the functions made so far, per operation."""
        return dict(self.stack.faults.calls) if self.stack.faults is not None else {}

    def worker_pids(self, function: str) -> list[int]:
        """The local runtime's worker processes of one function (one per warm environment)."""
        return self.stack.pools[function].pids()

    def moto_pid(self) -> int | None:
        return self.stack.moto_pid

    def aws(self, service: str) -> Any:
        return client(service, self.config.aws_url, self.config.region)

    @property
    def download_queue_url(self) -> str:
        return self.stack.resolver.refs["DownloadQueue"]

    # -- our API -----------------------------------------------------------------------------
    # Every request opens its own connection: on a kept-alive connection the local gateway adds a
    # ~40 ms stall to each answer (Nagle's algorithm meets delayed ACKs: it writes the headers and
    # the body separately without TCP_NODELAY), which API Gateway would not. latency.py measures
    # that stall separately.

    def headers(self, **extra: str) -> dict[str, str]:
        return {"x-api-key": self.api_key, "Content-Type": "application/json", **extra}

    def submit(self, body: dict[str, Any]) -> requests.Response:
        return requests.post(
            f"{self.config.api_url}/v1/jobs",
            json=body,
            headers=self.headers(**{"Idempotency-Key": f"bench-{uuid.uuid4()}"}),
            timeout=30,
        )

    def job(self, job_id: str) -> dict[str, Any]:
        answer = requests.get(f"{self.config.api_url}/v1/jobs/{job_id}", headers=self.headers(), timeout=30)
        answer.raise_for_status()
        return dict(answer.json())

    def post_webhook(self, event_type: str, payload: dict[str, Any]) -> requests.Response:
        """A delivery signed like Magic Hour's, posted straight to our gateway."""
        body = encode_event(event_type, payload)
        stamp = str(int(time.time()))
        headers = {
            "Content-Type": "application/json",
            TIMESTAMP_HEADER: stamp,
            SIGNATURE_HEADER: sign(self.config.webhook_secret, stamp, body),
        }
        return requests.post(
            f"{self.config.api_url}/webhooks/magic-hour", data=body, headers=headers, timeout=30
        )

    # -- the simulator -----------------------------------------------------------------------

    def scenario(self, **fields: Any) -> None:
        url = f"{self.config.magic_hour_url}/_sim/scenario"
        requests.delete(url, timeout=5).raise_for_status()
        requests.put(url, json=fields, timeout=5).raise_for_status()

    def sim_stats(self) -> dict[str, int]:
        answer = requests.get(f"{self.config.magic_hour_url}/_sim/stats", timeout=10)
        answer.raise_for_status()
        return {name: int(value) for name, value in answer.json().items() if isinstance(value, int)}

    def sim_project(self, project_id: str, timeout: float = 10) -> dict[str, Any]:
        answer = requests.get(f"{self.config.magic_hour_url}/_sim/projects/{project_id}", timeout=timeout)
        answer.raise_for_status()
        return dict(answer.json())

    def wait_sim_status(self, project_id: str, statuses: set[str], timeout: float) -> None:
        deadline = time.monotonic() + timeout
        while True:
            # The bare Magic Hour GET (no output hashing) is the cheap way to poll.
            status = self.magic_hour_project("video", project_id).get("status")
            if status in statuses:
                return
            if time.monotonic() >= deadline:
                raise BenchFailure(f"simulator project {project_id} still {status!r} after {timeout:.0f}s")
            time.sleep(0.05)

    def magic_hour_project(self, kind: str, project_id: str) -> dict[str, Any]:
        """The project as Magic Hour's GET /v1/<kind>-projects/{id} returns it."""
        answer = requests.get(
            f"{self.config.magic_hour_url}/v1/{kind}-projects/{project_id}",
            headers={"Authorization": f"Bearer {self.config.magic_hour_api_key}"},
            timeout=10,
        )
        answer.raise_for_status()
        return dict(answer.json())

    def sim_deliver(self, event_type: str, payload: dict[str, Any]) -> int | None:
        """Have the simulator sign and send one webhook to our gateway (POST /_sim/webhooks)."""
        answer = requests.post(
            f"{self.config.magic_hour_url}/_sim/webhooks",
            json={"type": event_type, "payload": payload},
            timeout=60,
        )
        status = answer.json().get("status_code")
        return int(status) if status is not None else None
