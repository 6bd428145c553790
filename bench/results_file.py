"""`python -m bench.results_file`: how long the callbacks function takes to write an ended batch's
results file (callbacks/batch_end.write_results: its jobs read 100 at a time with BatchGetItem,
the lines streamed to S3), for `--jobs` completed jobs, in-process against a moto server with the
template's tables and buckets. The jobs are put straight into the jobs table (BatchWriteItem), so
only the file's writing is timed, against the callbacks function's `Timeout`."""

from __future__ import annotations

import argparse
import json
import os
import time
from collections import Counter
from typing import Any

from bench.manifest import _count_calls, _environment, moto_server

CLIENT = "client-bench"


def run(jobs: int) -> dict[str, Any]:
    from local.template import Template, load_template
    from pipeline.callbacks import batch_end
    from pipeline.models.job import Job, JobStatus
    from pipeline.platform import ids
    from pipeline.platform.timeutil import now_iso
    from pipeline.store import batch_counts, clients, job_items

    batch_id, now = ids.new_batch_id(), now_iso()
    with job_items.table().batch_writer() as writer:
        for index in range(jobs):
            job = Job(
                job_id=ids.job_id_in_batch(batch_id, index),
                client_id=CLIENT,
                tool="ai-voice-generator",
                kind="audio",
                status=JobStatus.COMPLETED,
                created_at=now,
                updated_at=now,
                credits_charged=1,
                batch_id=batch_id,
                custom_id=f"row-{index}",
                ordinal=index,
            )
            writer.put_item(Item=job_items.to_item(job))
    item = {"client_id": CLIENT, "batch_id": batch_id, "total": jobs, "status": "completed"}
    clients.table().put_item(Item={**item, "item": batch_counts.batch_item(batch_id)})
    calls: Counter[str] = Counter()
    _count_calls(calls)
    started = time.perf_counter()
    size = batch_end.write_results(item)
    seconds = time.perf_counter() - started
    timeout = Template(load_template()).resources["CallbackFunction"]["Properties"]["Timeout"]
    return {
        "jobs": jobs,
        "file_bytes": size,
        "write_seconds": round(seconds, 2),
        "dynamodb_calls": dict(calls),
        "callback_function_timeout_s": timeout,
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--jobs", type=int, default=10_000)
    arguments = parser.parse_args(argv)
    with moto_server() as url:
        _environment(url)
        from pipeline.platform.settings import get_settings

        os.environ["OUTPUT_BUCKET_NAME"] = os.environ["INPUT_BUCKET_NAME"]
        get_settings.cache_clear()
        print(json.dumps(run(arguments.jobs), indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
