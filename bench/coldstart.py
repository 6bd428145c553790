"""Cold start: importing each function's handler module in a fresh interpreter with exactly that
function's environment (bench/coldstart_probe.py), as a new Lambda execution environment would
before its first invocation. The function's own code is not byte-compiled (the functions run with
PYTHONDONTWRITEBYTECODE=1); the venv's packages are (make setup compiles them).
"""

from __future__ import annotations

import json
import statistics
import subprocess
import sys
import time
from typing import Any

from bench.harness import Harness
from bench.lambda_env import ROOT, function_environment
from bench.units import kib_to_mib

_PROBE_TIMEOUT_SECONDS = 60


def _one(code_dir: str, handler: str, environment: dict[str, str]) -> tuple[float, float, int | None]:
    started = time.perf_counter()
    answer = subprocess.run(
        [sys.executable, "-m", "bench.coldstart_probe", code_dir, handler],
        cwd=ROOT,
        env=environment,
        capture_output=True,
        text=True,
        timeout=_PROBE_TIMEOUT_SECONDS,
        check=False,
    )
    wall = time.perf_counter() - started
    lines = answer.stdout.strip().splitlines()
    if answer.returncode != 0 or not lines:
        raise RuntimeError(f"cold start probe failed ({answer.returncode}): {answer.stderr[-2000:]}")
    figures = json.loads(lines[-1])
    return float(figures["import_seconds"]), wall, figures["memory_kib"].get("VmRSS")


def cold_starts(harness: Harness, runs: int) -> tuple[dict[str, Any], list[str]]:
    results: dict[str, Any] = {}
    failures: list[str] = []
    for function in harness.functions():
        spec = harness.spec(function)
        environment = function_environment(harness.environment(function))
        imports: list[float] = []
        walls: list[float] = []
        rss: list[int] = []
        try:
            for _ in range(runs):
                seconds, wall, resident = _one(str(ROOT / spec.code_uri), spec.handler, environment)
                imports.append(seconds * 1000)
                walls.append(wall * 1000)
                if resident is not None:
                    rss.append(resident)
        except (RuntimeError, subprocess.TimeoutExpired) as error:
            failures.append(f"cold start {function}: {error}")
            continue
        results[function] = {
            "runs": runs,
            "import_median_ms": round(statistics.median(imports), 1),
            "import_min_ms": round(min(imports), 1),
            "import_max_ms": round(max(imports), 1),
            "process_median_ms": round(statistics.median(walls), 1),
            "rss_after_import_mib": kib_to_mib(int(statistics.median(rss))) if rss else None,
        }
    return results, failures
