"""One Lambda execution environment, locally: a process of its own, under its function's limits.

Lambda runs each invocation in an execution environment that handles one invocation at a time and
stays warm, and discards the environment when the invocation times out, runs out of memory or the
runtime dies. Each `Environment` is one such process, so its death touches only its own invocation
(a shared process pool breaks every sibling's invocation when one worker dies). The parent enforces
the limits, as Lambda's sandbox does from outside the runtime:

- `Timeout`: at the deadline the process is killed with SIGKILL, so a handler that runs on can
  never write after its deadline; reported as Lambda reports it (`Sandbox.Timedout`).
- `MemorySize`: the process's resident set is watched while it runs an invocation; past
  `MemorySize` MB it is killed and the invocation reported as `Runtime.OutOfMemory`.
"""

from __future__ import annotations

import contextlib
import json
import multiprocessing
import os
import signal
import sys
import threading
import time
import traceback
import uuid
from dataclasses import dataclass
from multiprocessing.connection import Connection
from typing import Any

from layer_path import load_handler

# How often the parent looks at a running invocation's memory: fast enough that an allocation loop
# cannot get far past the limit between two looks, cheap enough to not matter (one /proc read).
WATCH_SECONDS = 0.02
# Lambda's limit on what a synchronous invocation returns (6 MiB and 100 bytes, as measured on Lambda).
RESPONSE_LIMIT_BYTES = 6 * 1024 * 1024 + 100
# Lambda's own limit on a function's init phase.
INIT_TIMEOUT_SECONDS = 60.0


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


def _load_handler(environment: dict[str, str], code_dir: str, handler: str, spec: dict[str, Any]) -> Any:
    # Ctrl-C is for the stack, which stops its environments itself.
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
    return load_handler(code_dir, handler)


def _serve(
    conn: Connection, environment: dict[str, str], code_dir: str, handler: str, spec: dict[str, Any]
) -> None:
    """The environment's own process: init once, then one invocation at a time until killed."""
    try:
        function = _load_handler(environment, code_dir, handler, spec)
    except Exception as error:  # Lambda's Runtime.ImportModuleError / init error
        traceback.print_exc()
        conn.send(("init_error", {"errorType": "Runtime.ImportModuleError", "errorMessage": repr(error)}))
        return
    conn.send(("ready", os.getpid()))
    while True:
        try:
            event, timeout, request_id = conn.recv()
        except EOFError:  # the stack is gone
            return
        context = LambdaContext(
            function_name=spec["name"],
            memory_limit_in_mb=spec["memory"],
            invoked_function_arn=f"arn:aws:lambda:us-east-1:123456789012:function:{spec['name']}",
            aws_request_id=request_id,
            deadline_epoch=time.time() + timeout,
        )
        try:
            answer: tuple[bool, Any, str | None] = (True, function(event, context), None)
        except Exception as error:  # what Lambda reports as a function error
            traceback.print_exc()
            answer = (False, {"errorType": error.__class__.__name__, "errorMessage": str(error)}, repr(error))
        sys.stdout.flush()
        sys.stderr.flush()
        conn.send(answer)


def resident_mib(pid: int) -> float | None:
    """The process's resident set (VmRSS) in MiB, or None where /proc cannot tell."""
    try:
        with open(f"/proc/{pid}/status", "rb") as status:
            for line in status:
                if line.startswith(b"VmRSS:"):
                    return int(line.split()[1]) / 1024
    except (OSError, ValueError, IndexError):
        return None
    return None


def _failure(error_type: str, message: str, request_id: str) -> dict[str, str]:
    return {"errorType": error_type, "errorMessage": f"RequestId: {request_id} Error: {message}"}


class Environment:
    """One execution environment: started (cold start) by `start`, then `invoke` one at a time.
    After a timeout, an out-of-memory kill or a crash it is dead (`alive` False) and is replaced."""

    def __init__(
        self, environment: dict[str, str], code_dir: str, handler: str, spec: dict[str, Any]
    ) -> None:
        self._spec = spec
        self._conn, child = multiprocessing.Pipe()
        self._process = multiprocessing.get_context("spawn").Process(
            target=_serve, args=(child, environment, code_dir, handler, spec), daemon=True
        )
        self._child = child
        self.alive = False
        self.busy = False
        # kill() comes from the invoking thread (a timeout, a memory kill) and from the pool's
        # shutdown at once: two closes of one pipe would close a descriptor reused meanwhile.
        self._kill_lock = threading.Lock()

    @property
    def pid(self) -> int | None:
        return self._process.pid

    @property
    def running(self) -> bool:
        return self.alive and self._process.is_alive()

    def start(self) -> Invocation | None:
        """Run the init phase; None when ready, else the failed invocation Lambda would report."""
        started = time.perf_counter()
        self._process.start()
        self._child.close()
        if self._conn.poll(INIT_TIMEOUT_SECONDS):
            try:
                kind, detail = self._conn.recv()
            except EOFError:
                kind, detail = "died", None
            if kind == "ready":
                self.alive = True
                return None
        else:
            kind, detail = "init_timeout", None
        self.kill()
        if not isinstance(detail, dict):
            detail = _failure("Runtime.ExitError", f"Runtime exited during init ({kind})", "init")
        return Invocation(False, detail, detail["errorMessage"], (time.perf_counter() - started) * 1000)

    def invoke(self, event: dict[str, Any], timeout: float, memory_mb: int) -> Invocation:
        started = time.perf_counter()
        request_id = str(uuid.uuid4())
        deadline = time.monotonic() + timeout
        self.busy = True
        try:
            self._conn.send((event, timeout, request_id))
            while True:
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    self.kill()
                    message = f"Task timed out after {timeout:.2f} seconds"
                    return Invocation(
                        False, _failure("Sandbox.Timedout", message, request_id), message, _since(started)
                    )
                if self._conn.poll(min(WATCH_SECONDS, remaining)):
                    ok, payload, error = self._conn.recv()
                    if ok and _too_large(payload):
                        message = (
                            "Response payload size exceeded maximum allowed payload size "
                            f"({RESPONSE_LIMIT_BYTES} bytes)."
                        )
                        payload = {"errorType": "Function.ResponseSizeTooLarge", "errorMessage": message}
                        return Invocation(False, payload, message, _since(started))
                    return Invocation(ok, payload, error, _since(started))
                if not self._process.is_alive():
                    raise EOFError
                rss = resident_mib(self._process.pid or 0)
                if rss is not None and rss > memory_mb:
                    self.kill()
                    message = "Runtime exited with error: signal: killed"
                    return Invocation(
                        False, _failure("Runtime.OutOfMemory", message, request_id), message, _since(started)
                    )
        except (EOFError, OSError):
            # The runtime died under the invocation (a crash, or killed from outside).
            self.kill()
            code = self._process.exitcode
            # Worded as Lambda's (Go's) process state: "signal: killed", "exit status 1".
            how = (
                f"signal: {(signal.strsignal(-code) or str(-code)).lower()}"
                if code and code < 0
                else f"exit status {code}"
            )
            message = f"Runtime exited with error: {how}"
            return Invocation(
                False, _failure("Runtime.ExitError", message, request_id), message, _since(started)
            )
        finally:
            self.busy = False

    def kill(self) -> None:
        """Discard the environment at once, as Lambda does after a timeout (no cleanup runs)."""
        with self._kill_lock:
            self.alive = False
            if self._process.pid is not None and self._process.exitcode is None:
                with contextlib.suppress(ProcessLookupError):
                    os.kill(self._process.pid, signal.SIGKILL)
                self._process.join(timeout=5)
            if not self._conn.closed:
                self._conn.close()


def _too_large(payload: Any) -> bool:
    try:
        return len(json.dumps(payload).encode()) > RESPONSE_LIMIT_BYTES
    except (TypeError, ValueError):  # not JSON: Lambda would fail to serialise it; not ours to judge
        return False


def _since(started: float) -> float:
    return (time.perf_counter() - started) * 1000
