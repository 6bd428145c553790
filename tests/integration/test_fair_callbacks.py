"""Callbacks per client, over HTTP on the local stack: client A's receivers accept and never
answer, and client B's callbacks are all delivered within a bound anyway (CONTRACT §1
"Callbacks": one client's failing receivers never hold back another client's deliveries).

Locally the callback function has 4 workers and each client's lane 2 places (local/stack.py).
Without lanes, A's queued callbacks, 5 s each, take every worker first-come and B's wait behind
all of them (about a minute here)."""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterator

import pytest
from conftest import StackHandle, start_stack

from tests.observe import CallbackReceiver
from tests.polling import poll

VOICE = {"tool": "ai-voice-generator", "input": {"style": {"prompt": "hi", "voice_name": "Elon Musk"}}}
NOISY, QUIET = "key-gamma", "key-beta"
NOISY_CALLBACKS = 24
# B's jobs render and download in 2-4 s here; 15 s leaves room for a loaded machine and is far
# below what A's backlog costs without lanes (24 x 5 s over 4 workers, minus nothing).
QUIET_BOUND_SECONDS = 15.0


class HangingReceiver:
    """Accepts every connection and never answers: each attempt costs its whole 5 s."""

    def __init__(self) -> None:
        self.connections: list[socket.socket] = []
        self.server = socket.socket()
        self.server.bind(("127.0.0.1", 0))
        self.server.listen(64)
        self.url = f"http://127.0.0.1:{self.server.getsockname()[1]}/hooks/hang"
        threading.Thread(target=self._serve, daemon=True).start()

    def _serve(self) -> None:
        while True:
            try:
                connection, _ = self.server.accept()
            except OSError:
                return
            self.connections.append(connection)  # held open, never read, never answered

    def stop(self) -> None:
        self.server.close()  # from now on attempts are refused at once
        for connection in self.connections:
            connection.close()


def _attempts(stack: StackHandle, job_id: str, key: str) -> int:
    return int((stack.get_job(job_id, key).json().get("callback") or {}).get("attempts", 0))


def _callback_states(stack: StackHandle, job_ids: list[str], key: str) -> list[str]:
    return [(stack.get_job(job_id, key).json().get("callback") or {}).get("state") for job_id in job_ids]


@pytest.fixture(scope="module")
def unshared(tmp_path_factory: pytest.TempPathFactory) -> Iterator[StackHandle]:
    """A stack of its own: its noisy client's callbacks retry and dead-letter long after the test,
    which would change the shared stack's callback queues under later tests (ops redrive)."""
    stack, handle = start_stack(tmp_path_factory, schedule_seconds=3600)
    try:
        yield handle
    finally:
        stack.stop()


def test_a_clients_hanging_receivers_never_delay_another_clients_callbacks(unshared: StackHandle) -> None:
    stack = unshared
    hanging = HangingReceiver()
    noisy: list[str] = []
    try:
        for _ in range(NOISY_CALLBACKS):
            answer = stack.post_job({**VOICE, "callback_url": hanging.url}, key=NOISY)
            assert answer.status_code == 202, answer.text
            noisy.append(answer.json()["job_id"])
        for job_id in noisy:  # every one of A's callbacks is queued before any of B's
            stack.wait_for(job_id, {"completed"}, timeout=120, key=NOISY)
        poll(lambda: len(hanging.connections), 20, "A's attempts hanging", until=lambda n: n >= 2)

        receiver = CallbackReceiver("/hooks/quiet", refuses=lambda _count: False)
        started = time.monotonic()
        quiet = [
            stack.post_job({**VOICE, "callback_url": receiver.url}, key=QUIET).json()["job_id"]
            for _ in range(3)
        ]
        poll(
            lambda: _callback_states(stack, quiet, QUIET),
            QUIET_BOUND_SECONDS + 60,  # fail with what was seen, not hang, when the bound is missed
            "B's callbacks delivered",
            until=lambda states: all(state == "delivered" for state in states),
            interval=0.2,
        )
        took = time.monotonic() - started
        print(
            f"B's 3 callbacks delivered {took:.1f} s after their submits, with A's {NOISY_CALLBACKS} hanging"
        )
        assert took < QUIET_BOUND_SECONDS
        assert len(receiver.accepted()) == 3
        # A's waits in its lane are not attempts: every attempt recorded on A's jobs reached
        # A's receiver (counting the waits too would put far more on the jobs than connections).
        attempts = sum(_attempts(stack, job_id, NOISY) for job_id in noisy)
        assert 1 <= attempts <= len(hanging.connections)
    finally:
        hanging.stop()
    # Refused now, A's remaining attempts end at once: its callbacks settle `failed` (1 s between
    # attempts here), so no later test finds A's lane taken.
    poll(
        lambda: _callback_states(stack, noisy, NOISY),
        120,
        "A's callbacks settled",
        until=lambda states: all(state == "failed" for state in states),
        interval=0.5,
    )
    # Hung up on or refused, the client reads the same: no address, no timing.
    assert {stack.get_job(job_id, NOISY).json()["callback"]["last_error"] for job_id in noisy} == {
        "no HTTP answer"
    }
