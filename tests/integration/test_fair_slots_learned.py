"""The per-client cap when only Magic Hour's 429s set the limit, over HTTP on a stack of its own
with no limit of ours (MagicHourMaxConcurrency 0) and the simulator's plan allowing 3 renders: a
429 teaches the pipeline the limit (what was rendering then), and while client B's jobs wait,
client A holds at most ceil(3 / 2) = 2 of Magic Hour's renders."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from typing import Any

import pytest
import requests
from conftest import StackHandle, start_stack

from pipeline.platform import ids

VOICE = {"tool": "ai-voice-generator", "input": {"style": {"prompt": "hi", "voice_name": "Elon Musk"}}}
PLAN = 3


@pytest.fixture(scope="module")
def unlimited(tmp_path_factory: pytest.TempPathFactory) -> Iterator[StackHandle]:
    stack, handle = start_stack(tmp_path_factory, schedule_seconds=1)
    try:
        yield handle
    finally:
        stack.stop()


def _rendering_at_magic_hour(stack: StackHandle) -> list[str]:
    """The jobs whose projects Magic Hour is rendering now (its own view: no slots of ours)."""
    answer = requests.get(f"{stack.magic_hour}/_sim/projects", timeout=5)
    answer.raise_for_status()
    body = answer.json()
    projects: list[dict[str, Any]] = list(body["projects"] if isinstance(body, dict) else body)
    return [
        ids.job_id_from_project_name(p["name"]) or ""
        for p in projects
        if p["status"] in ("queued", "rendering")
    ]


class RendersWhileWaiting:
    """Samples how many renders client A has at Magic Hour while any of B's jobs still waits."""

    def __init__(self, stack: StackHandle, alpha: set[str], beta: list[str]) -> None:
        self.stack, self.alpha, self.beta = stack, alpha, beta
        self.most = 0
        self.samples = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def __enter__(self) -> RendersWhileWaiting:
        self._thread.start()
        return self

    def __exit__(self, *_: object) -> None:
        self._stop.set()
        self._thread.join(timeout=10)

    def _run(self) -> None:
        while not self._stop.is_set():
            held = sum(job_id in self.alpha for job_id in _rendering_at_magic_hour(self.stack))
            statuses = [self.stack.get_job(job_id, key="key-beta").json()["status"] for job_id in self.beta]
            if "waiting" in statuses:
                self.most = max(self.most, held)
                self.samples += 1
            self._stop.wait(0.05)


def test_with_only_magic_hours_429_as_the_limit_one_client_holds_its_share(unlimited: StackHandle) -> None:
    stack = unlimited
    requests.delete(f"{stack.magic_hour}/_sim/scenario", timeout=5).raise_for_status()
    # Client A's two long renders take two of the plan's three.
    stack.scenario(render_seconds=8.0, plan_concurrency=PLAN)
    long_renders = [stack.post_job(VOICE, key="key-alpha").json() for _ in range(2)]
    assert {job["status"] for job in long_renders} <= {"queued", "rendering"}, long_renders
    # Short renders from now on: B's first takes the third, its next is refused 429 (the limit is
    # learned from it) and waits with two more; A's next two queue behind them.
    stack.scenario(render_seconds=1.0, plan_concurrency=PLAN)
    beta = [stack.post_job(VOICE, key="key-beta").json() for _ in range(4)]
    alpha = [stack.post_job(VOICE, key="key-alpha").json() for _ in range(2)]
    assert beta[0]["status"] in ("queued", "rendering"), beta
    assert [job["status"] for job in beta[1:]] == ["waiting"] * 3, beta
    alpha_ids = {job["job_id"] for job in [*long_renders, *alpha]}
    with RendersWhileWaiting(stack, alpha_ids, [job["job_id"] for job in beta]) as watch:
        for job in beta:
            done = stack.wait_for(job["job_id"], {"completed", "failed"}, timeout=60, key="key-beta")
            assert done["status"] == "completed", done
    # Round-robin alone hands A's next job the render B's short one frees: A has all three at
    # Magic Hour while B waits a whole long render (3 before). The cap against the learned limit
    # (ceil(3 / 2 clients waiting) = 2) does not.
    assert watch.samples > 0
    assert watch.most <= 2, watch.most
    for job in [*long_renders, *alpha]:
        ended = stack.wait_for(job["job_id"], {"completed", "failed"}, timeout=60)
        assert ended["status"] == "completed", ended
