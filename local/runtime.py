"""Running a template function the way Lambda does, without Docker.

Each function gets its own pool of worker processes. A worker is one "execution environment": it
imports the handler once (cold start) with only that function's environment variables, handles one
invocation at a time, and stays warm. Concurrent requests go to different workers, as in Lambda.
"""

from __future__ import annotations

import importlib.util
import multiprocessing
import os
import signal
import sys
import time
import traceback
import uuid
from concurrent.futures import Future, ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from local.iam import Place, Policy
from local.template import FunctionSpec

ROOT = Path(__file__).resolve().parent.parent
SHARED_DIR = ROOT / "shared"

_handler: Any = None
_spec: dict[str, Any] = {}


@dataclass
class LambdaContext:
    """The attributes of Lambda's context object that handlers and Powertools read."""

    function_name: str
    memory_limit_in_mb: int
    invoked_function_arn: str
    aws_request_id: str
    deadline_epoch: float
    function_version: str = "$LATEST"
    log_group_name: str = ""
    log_stream_name: str = "local"

    def get_remaining_time_in_millis(self) -> int:
        return max(0, int((self.deadline_epoch - time.time()) * 1000))


@dataclass(frozen=True)
class Invocation:
    ok: bool
    payload: Any
    error: str | None
    duration_ms: float


def _init_worker(environment: dict[str, str], code_dir: str, handler: str, spec: dict[str, Any]) -> None:
    # Ctrl-C is for the stack, which stops its workers itself.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    if spec.get("log_path"):
        # Function logs (what CloudWatch would hold) go to a file instead of the console.
        log = os.open(spec["log_path"], os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
        os.dup2(log, 1)
        os.dup2(log, 2)
    # A clean slate like Lambda's: nothing from the developer's shell decides which AWS to talk to.
    for name in list(os.environ):
        if name.startswith(("AWS_", "POWERTOOLS_", "_X_AMZN")):
            del os.environ[name]
    os.environ.update(environment)
    if spec.get("policy") is not None:
        # Before the handler's import, so every boto3 client it ever makes is checked against the
        # function's role, as AWS would check the role's credentials.
        from local import iam

        iam.install(spec["policy"], spec["place"])
    # Lambda puts the function's code first on the path, then the layers (/opt/python).
    sys.path[:0] = [code_dir, str(SHARED_DIR)]
    module_name, function_name = handler.rsplit(".", 1)
    module_spec = importlib.util.spec_from_file_location(module_name, Path(code_dir) / f"{module_name}.py")
    assert module_spec is not None
    assert module_spec.loader is not None
    module = importlib.util.module_from_spec(module_spec)
    sys.modules[module_name] = module
    module_spec.loader.exec_module(module)
    global _handler, _spec
    _handler = getattr(module, function_name)
    _spec = spec


def _warm() -> int:
    return os.getpid()


def _invoke(event: dict[str, Any], timeout: int) -> tuple[bool, Any, str | None]:
    context = LambdaContext(
        function_name=_spec["name"],
        memory_limit_in_mb=_spec["memory"],
        invoked_function_arn=f"arn:aws:lambda:us-east-1:123456789012:function:{_spec['name']}",
        aws_request_id=str(uuid.uuid4()),
        deadline_epoch=time.time() + timeout,
    )
    try:
        return True, _handler(event, context), None
    except Exception as error:  # what Lambda reports as a function error
        traceback.print_exc()
        return False, {"errorType": error.__class__.__name__, "errorMessage": str(error)}, repr(error)


class FunctionPool:
    def __init__(
        self,
        spec: FunctionSpec,
        environment: dict[str, str],
        workers: int,
        log_path: str | None = None,
        policy: Policy | None = None,
        place: Place | None = None,
    ) -> None:
        self.spec = spec
        self.policy = policy
        self.place = place
        self.log_path = log_path
        self.environment = environment
        self.workers = workers
        self._executor = self._new_executor()

    def _new_executor(self) -> ProcessPoolExecutor:
        return ProcessPoolExecutor(
            max_workers=self.workers,
            mp_context=multiprocessing.get_context("spawn"),
            initializer=_init_worker,
            initargs=(
                self.environment,
                str(ROOT / self.spec.code_uri),
                self.spec.handler,
                {
                    "name": self.spec.logical_id,
                    "memory": self.spec.memory,
                    "log_path": self.log_path,
                    "policy": self.policy,
                    "place": self.place,
                },
            ),
        )

    def warm_up(self) -> None:
        """Start every worker now, so the first requests do not pay the cold start."""
        futures: list[Future[int]] = [self._executor.submit(_warm) for _ in range(self.workers)]
        for future in futures:
            future.result(timeout=60)

    def worker_pids(self) -> list[int]:
        """The process ids of the live execution environments (tests kill them, as Lambda may)."""
        processes = getattr(self._executor, "_processes", None) or {}
        return [pid for pid, process in processes.items() if process.is_alive()]

    def invoke(self, event: dict[str, Any]) -> Invocation:
        started = time.perf_counter()
        try:
            future = self._executor.submit(_invoke, event, self.spec.timeout)
            ok, payload, error = future.result(timeout=self.spec.timeout + 5)
        except BrokenProcessPool:
            # A worker died mid-invocation (like a Lambda crash): start fresh workers.
            self._executor = self._new_executor()
            ok, payload, error = False, None, "worker process crashed"
        except TimeoutError:
            ok, payload, error = False, None, f"Task timed out after {self.spec.timeout} seconds"
        return Invocation(ok, payload, error, (time.perf_counter() - started) * 1000)

    def shutdown(self) -> None:
        self._executor.shutdown(wait=False, cancel_futures=True)
