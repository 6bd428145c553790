"""The local runtime holds functions to Lambda's limits (CONTRACT §2): stopped at `Timeout` (the
environment discarded, nothing written after the deadline), killed past `MemorySize`, and one
environment's death fails only its own invocation."""

from __future__ import annotations

import os
import signal
import threading
import time
import uuid
from collections.abc import Iterator

import pytest

from local.resources import client
from local.runtime import FunctionPool, Invocation
from local.template import FunctionSpec
from tests.conftest import running_moto_server

CODE_URI = "tests/tooling/runtime_handlers"


@pytest.fixture(scope="module")
def endpoint() -> Iterator[str]:
    with running_moto_server() as url:
        client("s3", url, "us-east-1").create_bucket(Bucket="limits")
        yield url


def _pool(endpoint: str, handler: str, timeout: int = 1, memory: int = 128, workers: int = 1) -> FunctionPool:
    spec = FunctionSpec(f"Limits{handler.title()}", CODE_URI, f"app.{handler}", timeout, memory)
    environment = {
        "AWS_ENDPOINT_URL": endpoint,
        "AWS_ACCESS_KEY_ID": "local",
        "AWS_SECRET_ACCESS_KEY": "local",
        "AWS_DEFAULT_REGION": "us-east-1",
    }
    return FunctionPool(spec, environment, workers)


def _keys(endpoint: str, prefix: str) -> set[str]:
    listed = client("s3", endpoint, "us-east-1").list_objects_v2(Bucket="limits", Prefix=prefix)
    return {item["Key"].rsplit("/", 1)[-1] for item in listed.get("Contents", [])}


def test_an_invocation_past_its_timeout_is_stopped_and_never_writes_after_it(endpoint: str) -> None:
    pool = _pool(endpoint, "sleep_then_write", timeout=1)
    key = uuid.uuid4().hex
    try:
        pool.warm_up()
        pid = pool.pids()[0]
        started = time.monotonic()
        answer = pool.invoke({"bucket": "limits", "key": key, "sleep": 2.5})
        took = time.monotonic() - started
        # Reported as Lambda reports a timeout, at the deadline (not seconds after it).
        assert not answer.ok
        assert answer.payload["errorType"] == "Sandbox.Timedout"
        assert answer.payload["errorMessage"].endswith("Task timed out after 1.00 seconds")
        assert 1.0 <= took < 2.0
        # The environment is discarded: its process is gone, not left running in the background.
        assert pid not in pool.pids()
        with pytest.raises(ProcessLookupError):
            os.kill(pid, 0)
        assert _keys(endpoint, key) == {"started"}
        # Until well after the handler would have written had it run on, nothing more lands.
        until = started + 2.5 + 1.5
        while time.monotonic() < until:
            assert _keys(endpoint, key) == {"started"}
            time.sleep(0.2)
        # A fresh environment serves the next invocation.
        assert pool.invoke({"bucket": "limits", "key": key + "-next", "sleep": 0}).ok
        assert _keys(endpoint, key + "-next") == {"started", "late"}
    finally:
        pool.shutdown()


def test_one_environment_dying_fails_only_its_own_invocation(endpoint: str) -> None:
    pool = _pool(endpoint, "sleep", timeout=10, workers=3)
    answers: list[Invocation] = []
    try:
        pool.warm_up()
        threads = [
            threading.Thread(target=lambda: answers.append(pool.invoke({"sleep": 1.5}))) for _ in range(3)
        ]
        for thread in threads:
            thread.start()
        deadline = time.monotonic() + 5
        while len(pool.pids(busy=True)) < 3:  # polls: all three invocations in flight
            assert time.monotonic() < deadline, "three invocations never ran at once"
            time.sleep(0.01)
        victim = pool.pids(busy=True)[0]
        os.kill(victim, signal.SIGKILL)
        for thread in threads:
            thread.join(timeout=15)
    finally:
        pool.shutdown()
    failed = [answer for answer in answers if not answer.ok]
    assert len(answers) == 3
    assert len(failed) == 1
    assert failed[0].payload["errorType"] == "Runtime.ExitError"
    assert failed[0].payload["errorMessage"].endswith("Runtime exited with error: signal: killed")
    assert victim not in {answer.payload["pid"] for answer in answers if answer.ok}


def test_a_function_allocating_past_its_memory_size_dies_and_the_next_gets_a_fresh_one(endpoint: str) -> None:
    pool = _pool(endpoint, "allocate", timeout=20, memory=128)
    try:
        pool.warm_up()
        first = pool.pids()[0]
        within = pool.invoke({"mib": 16})
        assert within.ok, within.payload
        over = pool.invoke({"mib": 400, "hold": 5})
        assert not over.ok
        assert over.payload["errorType"] == "Runtime.OutOfMemory"
        assert over.payload["errorMessage"].endswith("Runtime exited with error: signal: killed")
        # Killed as soon as it passed the limit, not after its 5 s hold.
        assert over.duration_ms < 4000
        again = pool.invoke({"mib": 16})
        assert again.ok
        assert again.payload["pid"] != first
    finally:
        pool.shutdown()


def test_a_response_over_lambdas_6_mb_is_a_function_error(endpoint: str) -> None:
    pool = _pool(endpoint, "answer_of", timeout=10)
    try:
        assert pool.invoke({"size": 6 * 1024 * 1024 - 1000}).ok
        over = pool.invoke({"size": 6 * 1024 * 1024 + 100})
    finally:
        pool.shutdown()
    assert not over.ok
    assert over.payload["errorType"] == "Function.ResponseSizeTooLarge"
    assert "(6291556 bytes)" in over.payload["errorMessage"]


def _wait_until_dead(pid: int, timeout: float = 10.0) -> None:
    """Until the kernel has ended the process (a zombie awaiting its parent's reap, or gone)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            with open(f"/proc/{pid}/stat") as stat:
                if stat.read().rsplit(")", 1)[1].split()[0] in {"Z", "X"}:
                    return
        except FileNotFoundError:
            return
        time.sleep(0.01)
    raise AssertionError(f"process {pid} still running {timeout} s after SIGKILL")


def test_an_environment_that_died_idle_is_never_handed_an_invocation(endpoint: str) -> None:
    pool = _pool(endpoint, "sleep", timeout=10)
    try:
        pool.warm_up()
        (idle,) = pool.pids(busy=False)
        os.kill(idle, signal.SIGKILL)
        _wait_until_dead(idle)  # SIGKILL lands asynchronously: "died idle" means died, then invoked
        answer = pool.invoke({"sleep": 0})
    finally:
        pool.shutdown()
    # A fresh environment (a cold start) took it, as on Lambda; nobody sees the dead one.
    assert answer.ok, answer.payload
    assert answer.payload["pid"] != idle
