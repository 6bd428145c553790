"""`make local` stops, saying why, when its moto server (every function's AWS) dies, instead of
running on with every call failing."""

from __future__ import annotations

import threading

import pytest
from conftest import free_port

from local.__main__ import serve
from local.config import LocalConfig
from local.stack import LocalStack


class _Stack:
    def __init__(self, fails_after: int | None) -> None:
        self.polls = 0
        self.fails_after = fails_after

    def failure(self) -> str | None:
        self.polls += 1
        if self.fails_after is not None and self.polls >= self.fails_after:
            return "the moto server exited with code -9"
        return None


def test_a_stack_that_can_no_longer_work_stops_with_its_reason(capsys: pytest.CaptureFixture[str]) -> None:
    stack = _Stack(fails_after=3)
    assert serve(stack, threading.Event(), poll_seconds=0.001) == 1
    assert stack.polls == 3
    assert "local stack: the moto server exited with code -9; stopping" in capsys.readouterr().err


def test_asked_to_stop_it_stops_cleanly() -> None:
    stopping = threading.Event()
    stopping.set()
    assert serve(_Stack(fails_after=None), stopping, poll_seconds=0.001) == 0


def test_the_stack_reports_its_moto_server_exiting(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("LOCAL_AWS_PORT", str(free_port()))
    stack = LocalStack(LocalConfig.from_environment())
    assert stack.failure() is None  # not started: nothing has failed
    stack._start_moto()
    try:
        assert stack.failure() is None
    finally:
        assert stack._moto is not None
        stack._moto.kill()
        stack._moto.wait(timeout=10)
    failed = stack.failure()
    assert failed is not None
    assert "moto server" in failed
    assert failed.endswith("exited with code -9")
