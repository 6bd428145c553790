"""`python -m bench.budgets`: N simultaneous creates against a daily credit budget, through the
local stack (issue #22's overshoot figures).

For each (N, budget) pair, on one fresh stack with a client of its own per pair: N threads POST a
5 s `text-to-video` (estimated 150 credits, the simulator's charge) at once. Printed per pair: how
many were created (answered 202 and sent to Magic Hour), refused (402), the credits charged
(`GET /v1/usage`) and the overshoot beyond the budget (0 when budgets are bounds).

Bounded: a fixed number of requests, every request with a timeout.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import tempfile
import threading
from pathlib import Path
from typing import Any

import requests

import local  # noqa: F401 - puts shared/ on sys.path
from local.config import LocalConfig
from local.moto_process import free_port
from local.stack import LocalStack

VIDEO = {"tool": "text-to-video", "input": {"end_seconds": 5, "style": {"prompt": "rain on a window"}}}


def _burst(api: str, sim: str, key: str, creates: int) -> dict[str, Any]:
    before = requests.get(f"{sim}/_sim/stats", timeout=5).json().get("creates", 0)
    statuses: list[int] = []
    lock = threading.Lock()
    barrier = threading.Barrier(creates)

    def submit() -> None:
        barrier.wait()
        status = requests.post(
            f"{api}/v1/jobs", json=VIDEO, headers={"x-api-key": key}, timeout=60
        ).status_code
        with lock:
            statuses.append(status)

    threads = [threading.Thread(target=submit) for _ in range(creates)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    usage = requests.get(f"{api}/v1/usage", headers={"x-api-key": key}, timeout=10).json()
    sent = requests.get(f"{sim}/_sim/stats", timeout=5).json().get("creates", 0) - before
    budget = int(usage["daily_credit_budget"])
    return {
        "creates": creates,
        "budget": budget,
        "created": statuses.count(202),
        "refused_402": statuses.count(402),
        "other_answers": len(statuses) - statuses.count(202) - statuses.count(402),
        "sent_to_magic_hour": sent,
        "credits_charged": usage["credits_charged"],
        "overshoot": max(0, int(usage["credits_charged"]) - budget),
    }


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.budgets", description=__doc__.split("\n\n")[0])
    parser.add_argument("--pairs", default="10:1000,100:3000", help="N:budget,... (default %(default)s)")
    options = parser.parse_args()
    pairs = [tuple(int(part) for part in pair.split(":")) for pair in options.pairs.split(",")]
    keys = {f"key-{i}": f"client-{i}" for i in range(len(pairs))}
    config = dataclasses.replace(
        LocalConfig.from_environment(),
        api_port=free_port(),
        aws_port=free_port(),
        magic_hour_port=free_port(),
        api_keys=keys,
        stack_name="bench-budgets",
        client_budgets={f"client-{i}": budget for i, (_, budget) in enumerate(pairs)},
    )
    stack = LocalStack(config, function_log=str(Path(tempfile.mkdtemp()) / "functions.log"))
    stack.start()
    try:
        for i, (creates, _) in enumerate(pairs):
            print(json.dumps(_burst(config.api_url, config.magic_hour_url, f"key-{i}", creates)))
    finally:
        stack.stop()


if __name__ == "__main__":
    main()
