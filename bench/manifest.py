"""`python -m bench.manifest`: a 10,000-line manifest batch validated and expanded into jobs,
in-process against a moto server with the template's tables and buckets (as the local stack makes
them): the time of each phase, the peak memory Python allocated for it (tracemalloc), and the
DynamoDB calls per job (counted by a botocore hook on every call the code makes)."""

from __future__ import annotations

import argparse
import json
import os
import subprocess  # nosec B404 - our own moto server, fixed argv
import sys
import time
import tracemalloc
import uuid
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import requests

from bench.harness import free_port

STACK = "bench-manifest"
CLIENT = "client-bench"
VOICE = {"tool": "ai-voice-generator", "input": {"style": {"prompt": "hi", "voice_name": "Elon Musk"}}}


@contextmanager
def moto_server() -> Iterator[str]:
    port = free_port()
    server = subprocess.Popen(  # nosec B603 - fixed argv
        [sys.executable, "-m", "local.moto_server", "-H", "127.0.0.1", "-p", str(port)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                requests.get(f"{url}/moto-api/", timeout=1)
                break
            except requests.RequestException:
                if time.monotonic() > deadline or server.poll() is not None:
                    raise
                time.sleep(0.1)
        yield url
    finally:
        server.terminate()
        try:
            server.wait(timeout=10)
        except subprocess.TimeoutExpired:  # a loaded machine's slow exit
            server.kill()
            server.wait(timeout=10)


def _environment(url: str) -> None:
    from local import resources
    from local.template import Template, load_template

    template = Template(load_template())
    secrets = {name: "unused" for name in template.of_type("AWS::SecretsManager::Secret")}
    made = resources.create_all(template, url, "us-east-1", STACK, template.parameter_defaults(), secrets)
    os.environ.update(
        {
            "AWS_ENDPOINT_URL": url,
            "AWS_DEFAULT_REGION": "us-east-1",
            "AWS_ACCESS_KEY_ID": "local",
            "AWS_SECRET_ACCESS_KEY": "local",
            "CLIENTS_TABLE_NAME": made.refs["ClientsTable"],
            "JOBS_TABLE_NAME": made.refs["JobsTable"],
            "INPUT_BUCKET_NAME": made.refs["InputBucket"],
            "DISPATCH_QUEUE_URL": made.refs["DispatchQueue"],
        }
    )


def _count_calls(counter: Counter[str]) -> None:
    from pipeline.platform.aws import dynamodb_table

    def count(event_name: str, **_: Any) -> None:
        counter[event_name.rsplit(".", 1)[-1]] += 1

    jobs = dynamodb_table(os.environ["JOBS_TABLE_NAME"]).meta.client
    jobs.meta.events.register("before-call.dynamodb", count)
    clients = dynamodb_table(os.environ["CLIENTS_TABLE_NAME"]).meta.client
    if clients is not jobs:
        clients.meta.events.register("before-call.dynamodb", count)


def run(lines: int) -> dict[str, Any]:
    from pipeline.create import inputs
    from pipeline.platform.aws import s3_client
    from pipeline.submit import batches, manifest

    bucket = os.environ["INPUT_BUCKET_NAME"]
    key = f"{inputs.client_prefix(CLIENT)}{uuid.uuid4().hex}.jsonl"
    body = b"".join(json.dumps({"custom_id": f"row-{i}", **VOICE}).encode() + b"\n" for i in range(lines))
    s3_client().put_object(Bucket=bucket, Key=key, Body=body)
    request = json.dumps({"manifest": f"s3://{bucket}/{key}"}).encode()
    calls: Counter[str] = Counter()
    _count_calls(calls)

    tracemalloc.start()
    started = time.perf_counter()
    batch = manifest.parse_batch(CLIENT, request, None, False)
    validated = time.perf_counter()
    _, validate_peak = tracemalloc.get_traced_memory()
    tracemalloc.reset_peak()
    item = batches.create_batch(batch)
    expanded = time.perf_counter()
    _, expand_peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    assert item["status"] == "running", item["status"]  # nosec B101 - a bench check
    return {
        "lines": lines,
        "manifest_bytes": len(body),
        "validate_seconds": round(validated - started, 2),
        "expand_seconds": round(expanded - validated, 2),
        "validate_peak_mib": round(validate_peak / 2**20, 1),
        "expand_peak_mib": round(expand_peak / 2**20, 1),
        "dynamodb_calls": dict(calls),
        "dynamodb_calls_per_job": round(sum(calls.values()) / lines, 3),
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--lines", type=int, default=10_000)
    arguments = parser.parse_args(argv)
    with moto_server() as url:
        _environment(url)
        print(json.dumps(run(arguments.lines), indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
