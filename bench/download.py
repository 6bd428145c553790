"""Downloader memory and throughput against file size.

Per size: a real job goes in through our HTTP API with the simulator's webhooks off and
`output_bytes` set; once the simulator's project is complete, its `video.completed` event (the
project exactly as Magic Hour's GET returns it) is signed and sent by the simulator
(POST /_sim/webhooks) to our gateway, so the webhook function moves the job to `downloading` and
queues the download task as in production. The benchmark then receives that genuine message from
the download queue, builds the SQS event with the local event source mapping's own code, and runs
the downloader's `lambda_handler` on it in a fresh interpreter (bench/download_probe.py) that has
exactly the function's environment. Nothing else runs in that process, so its VmHWM is the
downloader's own peak. The message is deleted on success, as the event source mapping would.

Verified afterwards, or the run fails: the job is `completed`, and the stored S3 object (streamed
back from the moto server and hashed here), the job's recorded sha256 and the object's sha256
tag all equal the sha256 of what the simulator served.
"""

from __future__ import annotations

import hashlib
import io
import json
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

import boto3
import requests

from bench.harness import DOWNLOAD_FUNCTION, VIDEO_JOB, BenchFailure, Harness
from bench.lambda_env import function_environment
from bench.procfs import RssSampler, memory_kib
from bench.units import MIB, format_size, kib_to_mib
from layer_path import ROOT
from pipeline.platform.aws import S3_CONFIG

DEFAULT_SIZES = "1MB,64MB,1GB"
# Sizes at and above this get the raw GET / raw upload references measured next to them.
_REFERENCE_MIN_BYTES = 64 * MIB
# The probe process is killed if it runs longer than this (plus the Lambda timeout's own cap).
_FLOOR_SECONDS = 60.0
_WORST_BYTES_PER_SECOND = 4 * MIB


def probe_timeout(size: int, lambda_timeout: int) -> float:
    return min(float(lambda_timeout), _FLOOR_SECONDS + size / _WORST_BYTES_PER_SECOND)


def _receive_task(harness: Harness, job_id: str, timeout: float = 15) -> dict[str, Any]:
    sqs = harness.aws("sqs")
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        answer = sqs.receive_message(
            QueueUrl=harness.download_queue_url,
            MaxNumberOfMessages=10,
            WaitTimeSeconds=1,
            AttributeNames=["All"],
            MessageAttributeNames=["All"],
        )
        for message in answer.get("Messages", []):
            if json.loads(message["Body"]).get("job_id") == job_id:
                return dict(message)
            # Another job's task (none is expected): let it be received again at once.
            sqs.change_message_visibility(
                QueueUrl=harness.download_queue_url,
                ReceiptHandle=message["ReceiptHandle"],
                VisibilityTimeout=0,
            )
    raise BenchFailure(f"no download task for job {job_id} reached the download queue within {timeout:.0f}s")


def _sqs_event(harness: Harness, message: dict[str, Any]) -> dict[str, Any]:
    """The event exactly as the local event source mapping (local/sqs_trigger.py) builds it."""
    return harness.download_pollers()[0].event_for([message])


def _s3_sha256(harness: Harness, s3_uri: str) -> tuple[str, int, dict[str, str]]:
    bucket, key = s3_uri.removeprefix("s3://").split("/", 1)
    answer = harness.aws("s3").get_object(Bucket=bucket, Key=key)
    digest = hashlib.sha256()
    size = 0
    for chunk in answer["Body"].iter_chunks(8 * MIB):
        digest.update(chunk)
        size += len(chunk)
    return digest.hexdigest(), size, dict(answer.get("Metadata", {}))


def _sha256_tag(harness: Harness, s3_uri: str) -> str | None:
    bucket, key = s3_uri.removeprefix("s3://").split("/", 1)
    tags = harness.aws("s3").get_object_tagging(Bucket=bucket, Key=key)["TagSet"]
    return next((tag["Value"] for tag in tags if tag["Key"] == "sha256"), None)


def _delete_object(harness: Harness, s3_uri: str) -> None:
    bucket, key = s3_uri.removeprefix("s3://").split("/", 1)
    harness.aws("s3").delete_object(Bucket=bucket, Key=key)


def _prepare(harness: Harness, size: int) -> tuple[str, str, str, dict[str, Any]]:
    """A job whose single output of `size` bytes waits in the download queue:
    (job id, the simulator's sha256 of the output, project id, the SQS message)."""
    harness.scenario(webhook_send=False, render_seconds=0.1, outputs=1, output_bytes=size)
    answer = harness.submit(VIDEO_JOB)
    if answer.status_code != 202:
        raise BenchFailure(f"POST /v1/jobs answered {answer.status_code}: {answer.text[:300]}")
    job = answer.json()
    job_id, project_id = job["job_id"], job["project_id"]
    harness.wait_sim_status(project_id, {"complete"}, timeout=30)
    # Hashing the simulator's file streams it once (then cached): done now, not during the download.
    served = harness.sim_project(project_id, timeout=300)["outputs"]
    if len(served) != 1 or served[0]["size_bytes"] != size:
        raise BenchFailure(
            f"simulator planned {served} for project {project_id}, not one output of {size} bytes"
        )
    payload = harness.magic_hour_project("video", project_id)
    status = harness.sim_deliver("video.completed", payload)
    if status != 200:
        raise BenchFailure(f"the signed video.completed delivery for job {job_id} was answered {status}")
    state = harness.job(job_id)["status"]
    if state != "downloading":
        raise BenchFailure(f"job {job_id} is {state!r} after video.completed, not 'downloading'")
    return job_id, served[0]["sha256"], project_id, _receive_task(harness, job_id)


def _run_probe(
    harness: Harness, event: dict[str, Any], timeout: float, workdir: Path
) -> tuple[dict[str, Any], float, RssSampler]:
    spec = harness.spec(DOWNLOAD_FUNCTION)
    spec_path = workdir / "spec.json"
    result_path = workdir / "result.json"
    spec_path.write_text(
        json.dumps(
            {
                "code_dir": str(ROOT / spec.code_uri),
                "handler": spec.handler,
                "function_name": spec.logical_id,
                "memory_mb": spec.memory,
                "timeout_seconds": spec.timeout,
                "event": event,
            }
        )
    )
    environment = function_environment(harness.environment(DOWNLOAD_FUNCTION))
    moto = harness.moto_pid()
    with harness.log_path.open("ab") as log:
        started = time.perf_counter()
        process = subprocess.Popen(
            [sys.executable, "-m", "bench.download_probe", str(spec_path), str(result_path)],
            cwd=ROOT,
            env=environment,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
        pids = {"downloader": process.pid, **({"moto": moto} if moto is not None else {})}
        with RssSampler(pids, interval=0.1) as sampler:
            try:
                process.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait(timeout=10)
                raise BenchFailure(
                    f"the downloader process ran over the benchmark's bound of {timeout:.0f}s "
                    "and was killed; "
                    f"its RSS over time (s, MiB): {sampler.series('downloader', 20)}"
                ) from None
        wall = time.perf_counter() - started
    if not result_path.exists():
        raise BenchFailure(f"the downloader process exited with {process.returncode} and wrote no result")
    return json.loads(result_path.read_text()), wall, sampler


def _log_tail(path: Path, lines: int = 15) -> str:
    try:
        with path.open("rb") as handle:
            handle.seek(max(0, path.stat().st_size - 20000))
            text = handle.read().decode("utf-8", "replace")
    except OSError:
        return ""
    return "\n".join(text.splitlines()[-lines:])


def measure(harness: Harness, size: int, figures: dict[str, Any]) -> None:
    """Fills `figures` as it goes, so a failure still leaves what was measured."""
    lambda_timeout = harness.spec(DOWNLOAD_FUNCTION).timeout
    job_id, expected_sha, _project_id, message = _prepare(harness, size)
    figures["job_id"] = job_id
    if size >= _REFERENCE_MIN_BYTES:
        figures["reference"] = references(harness, size, json.loads(message["Body"])["url"])
    moto_pid = harness.moto_pid()
    moto_before = kib_to_mib(_rss(moto_pid))
    with tempfile.TemporaryDirectory(prefix="bench-download-") as workdir:
        result, wall, sampler = _run_probe(
            harness, _sqs_event(harness, message), probe_timeout(size, lambda_timeout), Path(workdir)
        )
    figures.update(_figures(result, wall, size, sampler))
    figures["moto_rss_mib"] = {
        "before": moto_before,
        "peak_during": kib_to_mib(sampler.peak_kib("moto")),
        "after": kib_to_mib(_rss(moto_pid)),
    }
    failures = (result.get("response") or {}).get("batchItemFailures")
    if result.get("error") or failures or failures is None:
        raise BenchFailure(
            f"the downloader did not store the {format_size(size)} output: "
            f"{result.get('error') or result.get('response')}\n"
            f"peak RSS so far {figures.get('peak_rss_mib')} MiB; "
            f"function log tail:\n{_log_tail(harness.log_path)}"
        )
    harness.aws("sqs").delete_message(
        QueueUrl=harness.download_queue_url, ReceiptHandle=message["ReceiptHandle"]
    )
    figures.update(_verify(harness, job_id, size, expected_sha))
    limit = (figures.get("reference") or {}).get("limit_mib_per_s")
    if limit and figures.get("handler_mib_per_s"):
        figures["ratio_to_limit"] = round(figures["handler_mib_per_s"] / limit, 2)
    figures["ok"] = True


def _rss(pid: int | None) -> int | None:
    return memory_kib(pid).get("VmRSS") if pid is not None else None


def _figures(result: dict[str, Any], wall: float, size: int, sampler: RssSampler) -> dict[str, Any]:
    after_import = result.get("after_import_kib", {})
    before = result.get("before_invoke_kib", {})
    after = result.get("after_invoke_kib", {})
    phases = result.get("phases", {})
    stream = phases.get("fetch_into_s3", {})
    handler_seconds = result.get("handler_seconds")
    stream_seconds = stream.get("seconds")
    peak_kib = after.get("VmHWM") if result.get("peak_reset") else None
    lifetime_peak = max(after_import.get("VmHWM", 0), after.get("VmHWM", 0)) or None
    return {
        "pid": result.get("pid"),
        "import_s": _round(result.get("import_seconds"), 3),
        "baseline_rss_mib": kib_to_mib(before.get("VmRSS")),
        # The invocation's own peak (VmHWM reset just before the handler ran).
        "peak_rss_mib": kib_to_mib(peak_kib),
        "peak_over_baseline_mib": _round(
            (peak_kib - before["VmRSS"]) / 1024 if peak_kib and before.get("VmRSS") else None, 1
        ),
        "peak_while_streaming_mib": kib_to_mib(stream.get("memory_kib", {}).get("VmHWM")),
        "lifetime_peak_rss_mib": kib_to_mib(lifetime_peak),
        "rss_after_mib": kib_to_mib(after.get("VmRSS")),
        "sampled_peak_rss_mib": kib_to_mib(sampler.peak_kib("downloader")),
        "stream_s": _round(stream_seconds, 2),
        "handler_s": _round(handler_seconds, 2),
        "process_wall_s": round(wall, 2),
        "stream_mib_per_s": _round(size / MIB / stream_seconds if stream_seconds else None, 1),
        "handler_mib_per_s": _round(size / MIB / handler_seconds if handler_seconds else None, 1),
        "rss_timeline_s_mib": sampler.series("downloader", 60),
    }


def _round(value: float | None, digits: int) -> float | None:
    return None if value is None else round(float(value), digits)


def _verify(harness: Harness, job_id: str, size: int, expected_sha: str) -> dict[str, Any]:
    job = harness.job(job_id)
    if job["status"] != "completed" or len(job["outputs"]) != 1:
        raise BenchFailure(
            f"job {job_id} is {job['status']!r} with {len(job['outputs'])} outputs after the download"
        )
    output = job["outputs"][0]
    started = time.perf_counter()
    stored_sha, stored_size, _metadata = _s3_sha256(harness, output["s3_uri"])
    checked = {
        "sha256 of the stored S3 object": stored_sha,
        "sha256 the job recorded": output["sha256"],
        "sha256 in the object's tag": _sha256_tag(harness, output["s3_uri"]),
    }
    wrong = {name: value for name, value in checked.items() if value != expected_sha}
    if wrong or stored_size != size or output["size_bytes"] != size:
        raise BenchFailure(
            f"{format_size(size)}: stored output does not match what the simulator served "
            f"(sha256 {expected_sha}, {size} bytes): {wrong}, stored {stored_size} bytes, "
            f"recorded {output['size_bytes']} bytes ({output['s3_uri']})"
        )
    verify_seconds = time.perf_counter() - started
    # moto keeps objects in its own memory and temp files; free them for the next size.
    _delete_object(harness, output["s3_uri"])
    return {
        "sha256": stored_sha,
        "sha256_verified": True,
        "s3_uri": output["s3_uri"],
        "verify_s": round(verify_seconds, 2),
    }


class _Zeros(io.RawIOBase):
    """`size` bytes from one reused block, non-seekable like an HTTP body."""

    def __init__(self, size: int) -> None:
        self._left = size
        self._block = bytes(8 * MIB)

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int:
        count = min(len(buffer), self._left, len(self._block))
        buffer[:count] = self._block[:count]
        self._left -= count
        return count


def references(harness: Harness, size: int, url: str) -> dict[str, Any]:
    """What the two ends allow, measured just before the pipeline in the same run: one plain
    streamed GET of the same file from the simulator (read and dropped), and one plain boto3
    upload_fileobj (default TransferConfig) of as many bytes into the same moto S3, by a client
    with the downloader's own S3 configuration (pipeline.platform.aws.S3_CONFIG), so both sides of the
    ratio do the same work per byte."""
    started = time.perf_counter()
    got = 0
    with requests.get(url, stream=True, timeout=(5, 120)) as answer:
        answer.raise_for_status()
        while chunk := answer.raw.read(MIB):
            got += len(chunk)
    get_s = time.perf_counter() - started
    if got != size:
        raise BenchFailure(f"reference GET read {got} of {size} bytes")
    s3 = boto3.client(
        "s3",
        endpoint_url=harness.config.aws_url,
        region_name=harness.config.region,
        aws_access_key_id="local",
        aws_secret_access_key="local",  # noqa: S106 - moto accepts any
        config=S3_CONFIG,
    )
    bucket = harness.stack.resolver.refs["OutputBucket"]
    key = f"bench-reference/{uuid.uuid4().hex}"
    started = time.perf_counter()
    s3.upload_fileobj(io.BufferedReader(_Zeros(size), buffer_size=MIB), bucket, key)
    upload_s = time.perf_counter() - started
    s3.delete_object(Bucket=bucket, Key=key)
    get_rate, upload_rate = size / MIB / get_s, size / MIB / upload_s
    return {
        "raw_get_mib_per_s": round(get_rate, 1),
        "raw_upload_mib_per_s": round(upload_rate, 1),
        "limit_mib_per_s": round(min(get_rate, upload_rate), 1),
    }


DEFAULT_ROUNDS = 3


def run(
    harness: Harness, sizes: list[int], rounds: int = DEFAULT_ROUNDS
) -> tuple[list[dict[str, Any]], list[str]]:
    """Per size, one measurement; sizes with references get `rounds` of them, each its own job
    with the two references taken just before it, so the ratio is a median of rounds and not one
    draw of a shared two-core machine (the raw upload alone varied 109-173 MiB/s between runs)."""
    results: list[dict[str, Any]] = []
    failures: list[str] = []
    for size in sizes:
        count = max(1, rounds) if size >= _REFERENCE_MIN_BYTES else 1
        measured: list[dict[str, Any]] = []
        for number in range(1, count + 1):
            print(
                f"  downloader: {format_size(size)} round {number}/{count} ...", file=sys.stderr, flush=True
            )
            figures: dict[str, Any] = {"size": format_size(size), "size_bytes": size, "ok": False}
            measured.append(figures)
            try:
                measure(harness, size, figures)
            except BenchFailure as failure:
                figures["error"] = str(failure)
                failures.append(f"download {format_size(size)} round {number}: {failure}")
                break
        results.append(summary(measured))
    return results, failures


def summary(measured: list[dict[str, Any]]) -> dict[str, Any]:
    """One size's row: the round with the median ratio (a real round, its figures consistent with
    each other), plus every round's headline figures and the highest peak RSS of any round."""
    if len(measured) == 1:
        return measured[0]
    complete = [figures for figures in measured if figures.get("ratio_to_limit") is not None]
    if len(complete) < len(measured):
        return next(figures for figures in measured if not figures.get("ok"))
    ordered = sorted(complete, key=lambda figures: figures["ratio_to_limit"])
    row = dict(ordered[(len(ordered) - 1) // 2])
    row["rounds"] = [
        {
            "raw_get_mib_per_s": figures["reference"]["raw_get_mib_per_s"],
            "raw_upload_mib_per_s": figures["reference"]["raw_upload_mib_per_s"],
            "handler_mib_per_s": figures["handler_mib_per_s"],
            "ratio_to_limit": figures["ratio_to_limit"],
            "peak_rss_mib": figures["peak_rss_mib"],
        }
        for figures in measured
    ]
    row["ratio_median"] = row["ratio_to_limit"]
    row["peak_rss_mib_highest"] = max(figures["peak_rss_mib"] or 0 for figures in measured)
    return row
