"""`python -m bench`: start the local stack on free ports, run the benchmarks, print a table and
write bench-results/latest.json. Every benchmark stops by itself (fixed request counts, timeouts
on every request and process). Exit status 1 when a check failed (e.g. a stored output's sha256).

Imports happen inside main(), so `--help` answers at once and nothing of the benchmark is loaded
before the stack starts its worker processes.
"""

from __future__ import annotations

import argparse
import sys

BENCHMARKS = (
    "burst",
    "download",
    "submit",
    "webhook",
    "cold",
    "artifact",
    "recovery",
    "sweep",
    "manifest",
    "batch_end",
    "callbacks",
)
METHOD = {
    "units": "sizes binary (1GB = 1024**3 bytes); RSS in MiB; throughput in MiB/s; latency in ms",
    "downloads": (
        "per size: real job via POST /v1/jobs (simulator webhooks off, output_bytes set); signed "
        "video.completed sent by the simulator (POST /_sim/webhooks) to the gateway, so the webhook "
        "function queues the task; the genuine SQS message is received by the bench (the download "
        "queue's event source mapping is stopped) and the downloader's lambda_handler runs on it in "
        "a fresh interpreter with exactly the function's environment. baseline = VmRSS after the "
        "handler import; peak = VmHWM after resetting it (/proc/self/clear_refs) just before the "
        "invocation; copy = pipeline.downloads.http_to_s3.fetch_into_s3 (ranged GETs + sha256 + each part "
        "written once + the sha256 tag). References, just before each round: one plain GET of the "
        "same file from the simulator and one upload_fileobj of as many bytes into the same moto "
        "with the downloader's S3 config; ratio = handler MiB/s / min(the two); sizes of 64MB and up "
        "run --download-rounds rounds and show the median ratio's round. Verified: job completed, "
        "S3 object streamed back and hashed, recorded sha256 and the object's sha256 tag all equal "
        "the simulator's sha256."
    ),
    "latency": "sequential requests, each on a new connection, timed at the client, after "
    "concurrent warm-up requests that reach every worker of the function's pool; gateway_only is "
    "an unrouted path (no function) on new vs kept-alive connections; moto_get_item is one "
    "DynamoDB GetItem against the moto server, for scale",
    "cold_start": "handler module import in a fresh interpreter with the function's environment; "
    "process = interpreter start to exit, measured by the parent; ratio = process / a fresh process "
    "that only imports boto3, same environment, same run",
    "burst": "N jobs (one 64 KB image each) posted by 8 concurrent clients through the gateway, with "
    "the whole pipeline running (simulator webhooks, download event source mapping); time from the "
    "first POST until our list endpoint shows all completed; Magic Hour calls from the simulator's "
    "counters; per function, invocations and durations as the local runtime timed them",
    "recovery": "its own local stack (one-second schedule): the same burst of one-image jobs, "
    "posted by 4 clients that retry a 5xx with the same Idempotency-Key, first undisturbed, then "
    "while random execution environments are SIGKILLed (local/chaos.py, busy ones 3 times in 4) at "
    "--recovery-kills a minute; settle = first POST until every job has ended; ratio = with / without",
    "sweep": "its own local stack (bench/sweep.py): client A's watched rendering jobs written into the "
    "jobs table, all overdue, on one long render; client B's job with its webhook never sent; B's time "
    "from POST to completed, in periods of the local schedule, and as a ratio to the same measured "
    "first on the same stack with A holding nothing; capacity = checks / seconds of the busiest sweep "
    "run (its report in the function log), and its ratio to a bare check's reads (strongly consistent "
    "GetItem + the simulator's project GET, as many at once as the sweep) on the same stack",
    "batch_end": "its own local stack (bench/batch_end.py): an inline batch of --batch-jobs voice "
    "jobs; time from the counts showing every job terminal (polled every 50 ms) until results_url "
    "is set and the file answers 200; baseline = one put_object of the file's bytes into the same "
    "moto; ratio = that time / baseline",
    "manifest": "its own moto server with the template's tables and buckets (bench/manifest.py), "
    "in-process: a JSON Lines manifest of --manifest-lines voice jobs uploaded, then "
    "manifest.parse_batch (validation, streamed) and batches.create_batch (the jobs written, 100 "
    "a chunk by 8 writers) timed apart; peak = tracemalloc's peak of each phase; DynamoDB calls "
    "counted by a botocore hook on every call the code makes, per job",
    "callbacks": "its own local stack (bench/callbacks.py): client B's voice jobs one after another, "
    "each with a callback to a receiver answering 204, first alone, then after client A posted "
    "--callback-noisy jobs (their creates refused, 422: each ends failed at once and owes its callback) "
    "whose callback receivers accept and never answer (5 s per attempt); "
    "latency = arrival at B's receiver - the job's updated_at in the body; ratio = median with A / alone",
    "artifact_cold_start": "the layer as sam build makes it, for this machine's architecture (the "
    "arm64 build's compiled extensions cannot load here; pure-Python modules are the same bytes), "
    "plus each function's code, read-only, imported by `python -S` (stdlib + function + layer "
    "only), without and with bytecode (bench.artifact compile, unchecked-hash), next to a bare "
    "import boto3 from the same layer",
}


def _arguments(argv: list[str] | None) -> argparse.Namespace:
    from bench.download import DEFAULT_ROUNDS, DEFAULT_SIZES

    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--sizes", default=DEFAULT_SIZES, help=f"downloader output sizes (default {DEFAULT_SIZES})"
    )
    parser.add_argument(
        "--download-rounds",
        type=int,
        default=DEFAULT_ROUNDS,
        help=f"rounds per size of 64MB and up, each with its own references; the row is the median "
        f"ratio's round (default {DEFAULT_ROUNDS})",
    )
    parser.add_argument("--submits", type=int, default=100, help="timed POST /v1/jobs (default 100)")
    parser.add_argument(
        "--webhooks", type=int, default=200, help="timed signed *.started deliveries (default 200)"
    )
    parser.add_argument(
        "--completed", type=int, default=10, help="timed signed *.completed deliveries (default 10)"
    )
    parser.add_argument(
        "--cold-runs",
        type=int,
        default=5,
        help="fresh processes per function, interleaved with a bare import boto3 (default 5)",
    )
    parser.add_argument("--burst", type=int, default=200, help="jobs in the throughput burst (default 200)")
    parser.add_argument(
        "--recovery-jobs", type=int, default=30, help="jobs in the recovery burst (default 30)"
    )
    parser.add_argument(
        "--recovery-kills", type=float, default=30, help="environments killed a minute (default 30)"
    )
    parser.add_argument(
        "--batch-jobs", type=int, default=200, help="jobs in the batch-end batch (default 200)"
    )
    parser.add_argument(
        "--manifest-lines",
        type=int,
        default=10_000,
        help="lines of the manifest batch (default 10000, the contract's most)",
    )
    parser.add_argument(
        "--callback-noisy",
        type=int,
        default=200,
        help="client A's jobs with hanging callback receivers (default 200)",
    )
    parser.add_argument(
        "--only",
        default=",".join(BENCHMARKS),
        help=f"comma-separated subset of {','.join(BENCHMARKS)} (webhook needs submit)",
    )
    parser.add_argument("--output", default=None, help="results file (default bench-results/latest.json)")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    import json
    import platform
    import subprocess
    import time
    from datetime import UTC, datetime
    from pathlib import Path
    from typing import Any

    from bench import burst, coldstart, download, latency, report
    from bench.harness import BenchFailure, Harness
    from bench.units import parse_sizes
    from layer_path import ROOT

    args = _arguments(argv)
    wanted = {part.strip() for part in args.only.split(",") if part.strip()}
    unknown = wanted - set(BENCHMARKS)
    if unknown:
        raise SystemExit(f"--only: unknown benchmark(s) {sorted(unknown)}")
    if "webhook" in wanted:
        wanted.add("submit")
    sizes = parse_sizes(args.sizes) if "download" in wanted else []
    out_dir = ROOT / "bench-results"
    out_dir.mkdir(exist_ok=True)
    output = Path(args.output) if args.output else out_dir / "latest.json"
    log_path = out_dir / "functions.log"
    log_path.write_text("")

    began = time.perf_counter()
    commit = subprocess.run(
        ["git", "rev-parse", "--short", "HEAD"], cwd=ROOT, capture_output=True, text=True, check=False
    ).stdout.strip()
    results: dict[str, Any] = {
        "started_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "git_commit": commit or None,
        "machine": {
            "cpus": _cpus(),
            "python": platform.python_version(),
            "platform": platform.platform(),
            "load_average_at_start": _load(),
        },
        "function_log": str(log_path.relative_to(ROOT)),
        "method": METHOD,
    }
    failures: list[str] = []
    harness = Harness(log_path)
    print(
        f"bench: starting the local stack (function logs: {results['function_log']})",
        file=sys.stderr,
        flush=True,
    )
    try:
        harness.start()
        results["stack_start_s"] = round(harness.started_seconds, 2)
        if "burst" in wanted:
            results["burst"], found = burst.run(harness, args.burst)
            failures += found
        harness.stop_download_trigger()
        if sizes:
            results["downloads"], found = download.run(harness, sizes, args.download_rounds)
            failures += found
        jobs: list[latency.SubmittedJob] = []
        if "submit" in wanted:
            print(f"  submit: {args.submits} requests ...", file=sys.stderr, flush=True)
            results["submit"], jobs, found = latency.submit_latency(harness, args.submits)
            failures += found
            results["moto_get_item"] = latency.moto_reference(harness)
            results["gateway_only"] = latency.gateway_reference(harness)
        if "webhook" in wanted:
            print(
                f"  webhook: {args.webhooks} + {args.completed} deliveries ...", file=sys.stderr, flush=True
            )
            try:
                results["webhook"], found = latency.webhook_latency(
                    harness, jobs, args.webhooks, args.completed
                )
                failures += found
            except BenchFailure as failure:
                failures.append(f"webhook: {failure}")
        if "cold" in wanted:
            print(f"  cold start: {args.cold_runs} runs per function ...", file=sys.stderr, flush=True)
            results["cold_start"], found = coldstart.cold_starts(harness, args.cold_runs)
            failures += found
        if "artifact" in wanted:
            print("  cold start on the built artifact ...", file=sys.stderr, flush=True)
            results["artifact_cold_start"], found = coldstart.artifact_cold_starts(harness, args.cold_runs)
            failures += found
    finally:
        harness.stop()
    if "recovery" in wanted:
        # After the main stack stopped: its own stack, so the kills disturb no other figure.
        from bench import recovery

        results["recovery"], found = recovery.run(args.recovery_jobs, args.recovery_kills)
        failures += found
    if "sweep" in wanted:
        from bench import sweep

        print("  sweep: 10,000 watched jobs of A, a lost webhook of B ...", file=sys.stderr, flush=True)
        results["sweep"] = sweep.run()
        for field in ("b_baseline_status", "b_status"):
            if results["sweep"].get(field) != "completed":
                failures.append(f"sweep: client B's job ({field}) ended {results['sweep'].get(field)!r}")
    if "manifest" in wanted:
        print(f"  manifest: a batch of {args.manifest_lines} lines ...", file=sys.stderr, flush=True)
        # A process of its own: its moto server and environment, and no client or setting cached
        # by the parts before it.
        measured = subprocess.run(  # nosec B603 - our own module, fixed argv
            [sys.executable, "-m", "bench.manifest", "--lines", str(args.manifest_lines)],
            cwd=ROOT,
            capture_output=True,
            text=True,
            timeout=900,
            check=False,
        )
        if measured.returncode == 0:
            results["manifest"] = json.loads(measured.stdout)
        else:
            failures.append(f"manifest: exit {measured.returncode}: {measured.stderr.strip()[-300:]}")
    if "batch_end" in wanted:
        from bench import batch_end

        print(f"  batch end: a batch of {args.batch_jobs} jobs ...", file=sys.stderr, flush=True)
        results["batch_end"] = batch_end.run(args.batch_jobs)
        failures += [f"batch_end: {failure}" for failure in results["batch_end"]["failures"]]
    if "callbacks" in wanted:
        from bench import callbacks

        print(
            f"  callbacks: client B alone, then with A's {args.callback_noisy} receivers hanging ...",
            file=sys.stderr,
            flush=True,
        )
        results["callbacks"] = callbacks.run(args.callback_noisy)
        failures += [f"callbacks: {failure}" for failure in results["callbacks"]["failures"]]
    results["failures"] = failures
    results["machine"]["load_average_at_end"] = _load()
    results["duration_s"] = round(time.perf_counter() - began, 1)
    output.write_text(json.dumps(results, indent=2) + "\n")
    print(report.render(results))
    print(
        f"total {results['duration_s']} s (stack start {results.get('stack_start_s')} s); load average "
        f"{results['machine']['load_average_at_start']} at start; results in {_relative(output, ROOT)}"
    )
    return 1 if failures else 0


def _load() -> list[float]:
    import os

    return [round(value, 2) for value in os.getloadavg()]


def _cpus() -> int | None:
    import os

    return os.cpu_count()


def _relative(path: object, root: object) -> str:
    from pathlib import Path

    target, base = Path(str(path)).resolve(), Path(str(root))
    return str(target.relative_to(base)) if target.is_relative_to(base) else str(target)


if __name__ == "__main__":
    sys.exit(main())
