"""MagicHourMaxConcurrency=auto: the limit is the account tier's, read from GET /v1/account (issue #26)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
import requests
from conftest import StackHandle, start_stack

VOICE = {"tool": "ai-voice-generator", "input": {"style": {"prompt": "hi", "voice_name": "Elon Musk"}}}


@pytest.fixture(scope="module")
def auto(tmp_path_factory: pytest.TempPathFactory) -> Iterator[StackHandle]:
    stack, handle = start_stack(
        tmp_path_factory, schedule_seconds=3600, parameters={"MagicHourMaxConcurrency": "auto"}
    )
    try:
        yield handle
    finally:
        stack.stop()


def test_a_pro_account_gets_five_renders_at_once_the_rest_wait(auto: StackHandle) -> None:
    requests.delete(f"{auto.magic_hour}/_sim/scenario", timeout=5).raise_for_status()
    # Set before the first job: the functions read the tier once and keep it for an hour.
    auto.scenario(account_tier="pro", webhook_send=False, render_seconds=120)
    jobs = [auto.post_job(VOICE).json() for _ in range(7)]
    statuses = sorted(job["status"] for job in jobs)
    assert statuses == ["queued"] * 5 + ["waiting"] * 2, jobs
    assert auto.sim_stats()["creates"] == 5  # not 3, the fallback of an unread account
    assert auto.sim_stats()["rejected_creates"] == 0  # held back by us, not refused by Magic Hour
