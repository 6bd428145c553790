"""`python -m bench.batch_end` (also part of `make bench`): the time from a batch's last job ending
to its results file being readable, against one plain S3 PUT of the same bytes.

One local stack of its own. A batch of `--jobs` voice jobs (simulator renders of 0.2 s, one small
output each) is posted inline; the bench polls the batch every 50 ms until its counts show every
job terminal (the last job's end, as a client sees it), then until `results_url` is set and the
file answers 200 (readable). That interval is the whole ending path: the job's move ends the
batch, the clients table's stream carries the ending to the events function (its 1 s batching
window), which queues the batch's end on the callback queue, whose function reads the jobs a page
of 100 at a time and streams the file to S3. The baseline is one `put_object` of the file's bytes
into the same moto, timed at the bench; ratio = ending path / baseline. Verified: one line per job,
in the batch's order, every line `completed`.

Bounded: a fixed number of jobs, a timeout on every request, every wait capped.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import tempfile
import time
from pathlib import Path
from typing import Any

import boto3
import requests

import local  # noqa: F401 - puts shared/ on sys.path
from bench.harness import free_port
from local.config import LocalConfig
from local.stack import LocalStack

VOICE = {"tool": "ai-voice-generator", "input": {"style": {"prompt": "hi", "voice_name": "Elon Musk"}}}
KEYS = {"key-a": "client-a"}
HEADERS = {"x-api-key": "key-a"}
POLL_S = 0.05
TERMINAL = ("completed", "failed", "canceled")


def _wait(read: Any, until: Any, timeout: float, what: str) -> Any:
    deadline = time.monotonic() + timeout
    value: Any = None
    while True:
        try:
            value = read()
        except requests.RequestException as error:  # a loaded machine's slow answer: read again
            value = error
        else:
            if until(value):
                return value
        if time.monotonic() > deadline:
            raise RuntimeError(f"{what} not reached in {timeout} s; last seen {value!r}")
        time.sleep(POLL_S)


def _post(api: str, body: dict[str, Any]) -> str:
    """POST the batch as a client would: writing hundreds of jobs can outlast the gateway's
    timeout (502) while the function goes on, so it is sent again with the same Idempotency-Key
    until the batch answers (bounded)."""
    headers = {**HEADERS, "Idempotency-Key": f"bench-{time.time_ns()}"}
    for _ in range(20):
        answer = requests.post(f"{api}/v1/batches", json=body, headers=headers, timeout=120)
        if answer.status_code == 202:
            return str(answer.json()["batch_id"])
        if answer.status_code not in (502, 503, 504):
            answer.raise_for_status()
        time.sleep(1)  # a client's retry delay, not synchronisation
    raise RuntimeError("the batch was never accepted")


def run(jobs: int = 200) -> dict[str, Any]:
    config = dataclasses.replace(
        LocalConfig.from_environment(),
        api_port=free_port(),
        aws_port=free_port(),
        magic_hour_port=free_port(),
        api_keys=dict(KEYS),
        stack_name="bench-batch-end",
    )
    stack = LocalStack(config, function_log=str(Path(tempfile.mkdtemp()) / "functions.log"))
    stack.start()
    try:
        api, sim = config.api_url, config.magic_hour_url
        requests.patch(
            f"{sim}/_sim/scenario", json={"render_seconds": 0.2, "output_bytes": 1024}, timeout=5
        ).raise_for_status()
        body = {"jobs": [{"custom_id": f"row-{i}", **VOICE} for i in range(jobs)]}
        posted = time.monotonic()
        batch_id = _post(api, body)
        accepted = time.monotonic()

        def batch() -> dict[str, Any]:
            answer = requests.get(f"{api}/v1/batches/{batch_id}", headers=HEADERS, timeout=30)
            # A loaded machine's 502/503 is read again (_wait), never taken for the batch.
            answer.raise_for_status()
            return dict(answer.json())

        _wait(
            batch,
            lambda b: sum(b["counts"][s] for s in TERMINAL) == jobs,
            600,
            "every job terminal",
        )
        last_job_ended = time.monotonic()
        ended = _wait(batch, lambda b: b["results_url"] is not None, 120, "results_url")
        content = _wait(
            lambda: requests.get(ended["results_url"], timeout=30),
            lambda r: r.status_code == 200,
            30,
            "the results file readable",
        ).content
        readable = time.monotonic()
        lines = [json.loads(line) for line in content.decode().splitlines()]
        s3 = boto3.client(
            "s3",
            endpoint_url=config.aws_url,
            region_name=config.region,
            aws_access_key_id="local",
            aws_secret_access_key="local",  # noqa: S106 - moto accepts any
        )
        bucket = stack.resolver.refs["OutputBucket"]
        started = time.perf_counter()
        s3.put_object(Bucket=bucket, Key="bench-reference/results.jsonl", Body=content)
        put_s = time.perf_counter() - started
        ending_s = readable - last_job_ended
        checks = [
            *([] if len(lines) == jobs else [f"{len(lines)} lines for {jobs} jobs"]),
            *(
                []
                if [line["custom_id"] for line in lines] == [f"row-{i}" for i in range(jobs)]
                else ["order"]
            ),
            *([] if {line["status"] for line in lines} == {"completed"} else ["a job not completed"]),
        ]
        return {
            "jobs": jobs,
            "batch_status": ended["status"],
            "accepted_s": round(accepted - posted, 2),
            "jobs_s": round(last_job_ended - posted, 2),
            "last_end_to_readable_s": round(ending_s, 3),
            "file_bytes": len(content),
            "baseline_put_s": round(put_s, 4),
            "ratio": round(ending_s / put_s, 1) if put_s else None,
            "failures": checks,
        }
    finally:
        stack.stop()


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.batch_end", description=__doc__.split("\n\n")[0])
    parser.add_argument("--jobs", type=int, default=200, help="jobs in the batch (default 200, at most 500)")
    options = parser.parse_args()
    print(json.dumps(run(options.jobs), indent=2))


if __name__ == "__main__":
    main()
