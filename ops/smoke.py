"""`make smoke API_URL=... API_KEY=...`: one cheap job through a deployed stack, end to end.

Submits a short voice job, follows it to `completed`, downloads each output through its presigned
URL and checks its size and sha256 against the job resource. Prints every step with its time;
exits 1 with a clear message at the first failure (2 for bad arguments). The API key and the
presigned URLs are never printed.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import sys
import time
import uuid
from collections.abc import Callable
from typing import Any

import requests

CHEAP_JOB: dict[str, Any] = {
    "tool": "ai-voice-generator",
    "input": {"style": {"prompt": "Smoke test.", "voice_name": "Elon Musk"}},
    "metadata": {"purpose": "smoke-test"},
}
ENDED = {"completed", "failed", "canceled"}


class SmokeFailed(Exception):
    pass


class Steps:
    def __init__(self, emit: Callable[[str], None]) -> None:
        self.emit = emit
        self.started = time.monotonic()

    def run(self, name: str, action: Callable[[], Any]) -> Any:
        began = time.monotonic()
        try:
            result = action()
        except SmokeFailed as failed:
            self.emit(f"FAIL {name} ({time.monotonic() - began:.1f}s): {failed}")
            raise
        except requests.RequestException as exc:
            self.emit(f"FAIL {name} ({time.monotonic() - began:.1f}s): {exc.__class__.__name__}")
            raise SmokeFailed(f"{name}: {exc.__class__.__name__}") from exc
        self.emit(f"ok   {name} ({time.monotonic() - began:.1f}s)")
        return result


def _describe(answer: requests.Response) -> str:
    try:
        error = answer.json().get("error") or {}
        return f"HTTP {answer.status_code} {error.get('code', '')}: {error.get('message', '')}".strip()
    except ValueError:
        return f"HTTP {answer.status_code}"


def smoke(
    api_url: str,
    api_key: str,
    timeout: float = 600.0,
    poll_seconds: float = 2.0,
    body: dict[str, Any] | None = None,
    emit: Callable[[str], None] = print,
) -> dict[str, Any]:
    """Returns the completed job; raises SmokeFailed with the reason otherwise."""
    base = api_url.rstrip("/")
    headers = {"x-api-key": api_key, "Content-Type": "application/json"}
    steps = Steps(emit)

    def submit() -> dict[str, Any]:
        answer = requests.post(
            f"{base}/v1/jobs",
            json=body or CHEAP_JOB,
            headers={**headers, "Idempotency-Key": f"smoke-{uuid.uuid4()}"},
            timeout=35,
        )
        if answer.status_code != 202:
            raise SmokeFailed(f"submit answered {_describe(answer)}")
        job: dict[str, Any] = answer.json()
        emit(f"     job {job['job_id']} ({job['status']})")
        return job

    job = steps.run("submit POST /v1/jobs", submit)
    job_id = job["job_id"]

    def follow() -> dict[str, Any]:
        deadline = time.monotonic() + timeout
        seen = job["status"]
        while True:
            answer = requests.get(f"{base}/v1/jobs/{job_id}", headers=headers, timeout=30)
            if answer.status_code != 200:
                raise SmokeFailed(f"GET /v1/jobs/{job_id} answered {_describe(answer)}")
            current: dict[str, Any] = answer.json()
            if current["status"] != seen:
                seen = current["status"]
                emit(f"     {seen} after {time.monotonic() - steps.started:.1f}s")
            if current["status"] in ENDED:
                if current["status"] != "completed":
                    error = current.get("error") or {}
                    raise SmokeFailed(
                        f"job {job_id} ended {current['status']}: {error.get('code')} {error.get('message')}"
                    )
                return current
            if time.monotonic() > deadline:
                raise SmokeFailed(f"job {job_id} still {current['status']} after {timeout:.0f}s")
            time.sleep(poll_seconds)

    done: dict[str, Any] = steps.run("follow to completed", follow)
    outputs = done.get("outputs") or []

    def check_outputs() -> None:
        if not outputs:
            raise SmokeFailed("the completed job lists no outputs")
        for output in outputs:
            url = output.get("download_url")
            if not url:
                raise SmokeFailed(f"output {output.get('index')} has no download_url")
            digest = hashlib.sha256()
            size = 0
            with requests.get(url, stream=True, timeout=60) as answer:
                if answer.status_code != 200:
                    raise SmokeFailed(
                        f"output {output.get('index')}: presigned URL answered HTTP {answer.status_code}"
                    )
                for chunk in answer.iter_content(1024 * 1024):
                    digest.update(chunk)
                    size += len(chunk)
            if size != output.get("size_bytes") or digest.hexdigest() != output.get("sha256"):
                raise SmokeFailed(
                    f"output {output.get('index')}: downloaded {size} B sha256 {digest.hexdigest()}, "
                    f"the job says {output.get('size_bytes')} B sha256 {output.get('sha256')}"
                )
            emit(f"     output {output['index']}: {size} B, sha256 {digest.hexdigest()[:16]}… matches")

    steps.run("download outputs and check sha256", check_outputs)
    emit(f"smoke test passed in {time.monotonic() - steps.started:.1f}s (job {job_id})")
    return done


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="make smoke", description=__doc__)
    parser.add_argument("--api-url", required=True, help="the stack output ApiUrl")
    parser.add_argument("--api-key", required=True, help="an API key's value")
    parser.add_argument("--timeout", type=float, default=600.0, help="seconds to wait for completed")
    parser.add_argument("--body", help="another job body (JSON) instead of the cheap voice job")
    args = parser.parse_args(argv)
    try:
        body = json.loads(args.body) if args.body else None
    except ValueError:
        print("smoke: --body is not JSON", file=sys.stderr)
        return 2
    try:
        smoke(
            args.api_url,
            args.api_key,
            timeout=args.timeout,
            body=body,
            emit=lambda line: print(line, flush=True),
        )
    except SmokeFailed as failed:
        print(f"smoke test FAILED: {failed}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
