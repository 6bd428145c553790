"""One downloader invocation in a process of its own: `python -m bench.download_probe SPEC RESULT`.

SPEC (JSON) names the function's code, handler, memory and timeout and holds the SQS event; the
process already runs with exactly the function's environment (set by the parent). RESULT receives
the figures as JSON. stdout/stderr are the function's log (the parent points them at a file).

Memory: VmRSS/VmHWM right after the import (cold start), then the peak is reset and VmHWM read
again after each phase, so `invoke_peak` is the peak of the invocation alone. The copy itself
(GET + sha256 + every part written into S3 once + the sha256 tag) is timed by wrapping
pipeline.downloads.downloads.fetch_into_s3, which the downloader calls through that module; nothing
else is changed.
"""

from __future__ import annotations

import json
import os
import sys
import time
import traceback
from collections.abc import Callable
from pathlib import Path
from typing import Any

from bench import procfs
from bench.lambda_env import LambdaContext
from layer_path import load_handler

PHASES = ("fetch_into_s3",)


def _instrument(phases: dict[str, dict[str, Any]]) -> None:
    from pipeline.downloads import downloads  # already imported by the handler's module

    for name in PHASES:
        original: Callable[..., Any] = getattr(downloads, name)

        def timed(
            *args: Any, _original: Callable[..., Any] = original, _name: str = name, **kwargs: Any
        ) -> Any:
            started = time.perf_counter()
            try:
                return _original(*args, **kwargs)
            finally:
                phases[_name] = {
                    "seconds": time.perf_counter() - started,
                    "memory_kib": procfs.memory_kib(),
                }

        setattr(downloads, name, timed)


def run(spec: dict[str, Any]) -> dict[str, Any]:
    result: dict[str, Any] = {"pid": os.getpid(), "phases": {}}
    started = time.perf_counter()
    handler = load_handler(spec["code_dir"], spec["handler"])
    result["import_seconds"] = time.perf_counter() - started
    result["after_import_kib"] = procfs.memory_kib()
    _instrument(result["phases"])
    result["peak_reset"] = procfs.reset_peak()
    result["before_invoke_kib"] = procfs.memory_kib()
    context = LambdaContext(spec["function_name"], int(spec["memory_mb"]), int(spec["timeout_seconds"]))
    invoked = time.perf_counter()
    try:
        result["response"] = handler(spec["event"], context)
    except Exception:
        result["error"] = traceback.format_exc()
    result["handler_seconds"] = time.perf_counter() - invoked
    result["after_invoke_kib"] = procfs.memory_kib()
    return result


def main(argv: list[str]) -> int:
    spec_path, result_path = argv[1], argv[2]
    spec = json.loads(Path(spec_path).read_text())
    try:
        result = run(spec)
    except Exception:
        result = {"pid": os.getpid(), "error": traceback.format_exc()}
    partial = Path(result_path + ".partial")
    partial.write_text(json.dumps(result, default=str))
    partial.replace(result_path)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
