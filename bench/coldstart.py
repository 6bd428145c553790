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
from bench.lambda_env import function_environment
from bench.units import kib_to_mib
from layer_path import ROOT

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


BASELINE = "(bare import boto3)"


def _process_ms(command: list[str], environment: dict[str, str], cwd: str) -> float:
    """Wall time of a whole fresh process, as the parent sees it."""
    started = time.perf_counter()
    subprocess.run(
        command, cwd=cwd, env=environment, check=True, capture_output=True, timeout=_PROBE_TIMEOUT_SECONDS
    )
    return (time.perf_counter() - started) * 1000


def _paired_ratio(walls: list[float], baseline: list[float]) -> float:
    """Median of per-pair ratios: each probe runs right after a baseline process of its own, so a
    load swing on the shared machine moves both sides of one ratio alike (one baseline per round
    for every probe left about 0.1 of noise per function, `make bench`)."""
    return round(statistics.median(w / b for w, b in zip(walls, baseline, strict=True)), 2)


def cold_starts(harness: Harness, runs: int) -> tuple[dict[str, Any], list[str]]:
    results: dict[str, Any] = {}
    failures: list[str] = []
    # The yardstick: a process that only imports boto3, with a function's environment.
    baseline_env = function_environment(harness.environment(harness.functions()[0]))
    functions = harness.functions()
    environments = {name: function_environment(harness.environment(name)) for name in functions}
    bare: list[float] = []
    paired: dict[str, list[float]] = {name: [] for name in functions}
    imports: dict[str, list[float]] = {name: [] for name in functions}
    walls: dict[str, list[float]] = {name: [] for name in functions}
    rss: dict[str, list[int]] = {name: [] for name in functions}
    broken: set[str] = set()
    for _ in range(runs):  # rounds: every function once, each right after a baseline of its own
        for function in functions:
            if function in broken:
                continue
            baseline = _process_ms([sys.executable, "-c", "import boto3"], baseline_env, str(ROOT))
            spec = harness.spec(function)
            try:
                seconds, wall, resident = _one(
                    str(ROOT / spec.code_uri), spec.handler, environments[function]
                )
            except (RuntimeError, subprocess.TimeoutExpired) as error:
                failures.append(f"cold start {function}: {error}")
                broken.add(function)
                continue
            bare.append(baseline)
            paired[function].append(baseline)
            imports[function].append(seconds * 1000)
            walls[function].append(wall * 1000)
            if resident is not None:
                rss[function].append(resident)
    results[BASELINE] = {
        "runs": len(bare),
        "process_median_ms": round(statistics.median(bare), 1),
        "ratio_to_boto3": 1.0,
    }
    for function in functions:
        if function in broken:
            continue
        results[function] = {
            "runs": runs,
            "import_median_ms": round(statistics.median(imports[function]), 1),
            "import_min_ms": round(min(imports[function]), 1),
            "import_max_ms": round(max(imports[function]), 1),
            "process_median_ms": round(statistics.median(walls[function]), 1),
            "ratio_to_boto3": _paired_ratio(walls[function], paired[function]),
            "rss_after_import_mib": kib_to_mib(int(statistics.median(rss[function])))
            if rss[function]
            else None,
        }
    return results, failures


_ARTIFACT_PROBE = "import sys; sys.path[:0] = sys.argv[1:3]; import app"
# What a function loads on its first request of some paths only (tests/unit/test_observability.py
# keeps it out of the import): measured as a row of its own, so the cost moved is shown, not hidden.
_FIRST_REQUEST = {
    "SubmitFunction": (
        "first POST",
        "import pipeline.submit.idempotency, pipeline.submit.submission, pipeline.create.inputs, "
        "pipeline.magic_hour.client, aws_lambda_powertools.utilities.validation",
    ),
}
_ARTIFACT_BASELINE = "import sys; sys.path[:0] = sys.argv[1:2]; import boto3"


def artifact_cold_starts(harness: Harness, runs: int) -> tuple[dict[str, Any], list[str]]:
    """Cold starts on the artifact as Lambda runs it: the layer as `sam build` makes it (for this
    machine's architecture, see bench.artifact.same_arch_layer) and each function's code,
    read-only, imported by a fresh `python -S` (no site-packages: only the standard library, the
    function and the layer are on the path, as /var/task and /opt/python are on Lambda), first
    without bytecode (what `sam build` ships), then after `python -m bench.artifact compile` (what
    `make build` ships), each next to a bare `import boto3` from the same layer."""
    import shutil
    import tempfile
    from pathlib import Path

    from bench import artifact

    results: dict[str, Any] = {}
    failures: list[str] = []
    work = Path(tempfile.mkdtemp(prefix="bench-artifact-"))
    try:
        layer = artifact.same_arch_layer(work / "layer")
        functions = work / "functions"
        for function in harness.functions():
            shutil.copytree(ROOT / harness.spec(function).code_uri, functions / function)
        results["layer"] = _layer_figures(layer, work)
        for state in ("no_bytecode", "bytecode"):
            if state == "bytecode":
                artifact.writable(work)
                artifact.compile_tree(work)
            artifact.read_only(work)
            figures: dict[str, Any] = {}
            baseline_env = function_environment(harness.environment(harness.functions()[0]))
            bare: list[float] = []
            probes = [(function, function, _ARTIFACT_PROBE) for function in harness.functions()]
            probes += [
                (f"{function}, {label}", function, f"{_ARTIFACT_PROBE}; {imports}")
                for function, (label, imports) in _FIRST_REQUEST.items()
                if function in harness.functions()
            ]
            walls: dict[str, list[float]] = {row: [] for row, _, _ in probes}
            paired: dict[str, list[float]] = {row: [] for row, _, _ in probes}
            for _ in range(runs):  # rounds: every probe once, each right after a baseline of its own
                for row, function, probe in probes:
                    baseline = _process_ms(
                        [sys.executable, "-S", "-c", _ARTIFACT_BASELINE, str(layer)], baseline_env, str(work)
                    )
                    bare.append(baseline)
                    paired[row].append(baseline)
                    code = functions / function
                    environment = function_environment(
                        {**harness.environment(function), "LAMBDA_TASK_ROOT": str(code)}
                    )
                    walls[row].append(
                        _process_ms(
                            [sys.executable, "-S", "-c", probe, str(code), str(layer)],
                            environment,
                            str(code),
                        )
                    )
            figures[BASELINE] = {
                "runs": len(bare),
                "process_median_ms": round(statistics.median(bare), 1),
                "ratio_to_boto3": 1.0,
            }
            for function, measured in walls.items():
                figures[function] = {
                    "runs": runs,
                    "process_median_ms": round(statistics.median(measured), 1),
                    "ratio_to_boto3": _paired_ratio(measured, paired[function]),
                }
            results[state] = figures
            artifact.writable(work)
        results["pyc_files"] = sum(1 for _ in work.rglob("*.pyc"))
    except subprocess.CalledProcessError as error:
        failures.append(f"artifact cold start: {error}: {(error.stderr or b'').decode()[-1500:]}")
    except (subprocess.SubprocessError, OSError) as error:
        failures.append(f"artifact cold start: {error}")
    finally:
        artifact.writable(work)
        shutil.rmtree(work, ignore_errors=True)
    return results, failures


def _layer_figures(layer: Any, work: Any) -> dict[str, Any]:
    from bench import artifact

    boto = sum(
        artifact.directory_bytes(item)
        for item in layer.iterdir()
        if item.is_dir() and item.name.split("-")[0] in artifact.BOTO_FAMILY
    )
    total = artifact.directory_bytes(layer)
    zipped, extract_s = artifact.zipped_bytes(layer, work)
    zipped_without, extract_without_s = artifact.zipped_bytes(layer, work, exclude=artifact.BOTO_FAMILY)
    return {
        "unzipped_mib": kib_to_mib(total // 1024),
        "boto_family_unzipped_mib": kib_to_mib(boto // 1024),
        "zipped_mib": kib_to_mib(zipped // 1024),
        "zipped_without_boto_mib": kib_to_mib(zipped_without // 1024),
        "extract_s": round(extract_s, 2),
        "extract_without_boto_s": round(extract_without_s, 2),
    }
