"""A default daily budget (issue #23): with `DefaultDailyCreditBudget` set, a client the operator
gave no budget is held to the default, over HTTP; one with its own budget keeps it."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
import requests
from conftest import StackHandle, start_stack

VOICE = {"tool": "ai-voice-generator", "input": {"style": {"prompt": "hi", "voice_name": "Elon Musk"}}}
DEFAULT = 20  # one voice job (20 credits) spends it all: a second is refused


@pytest.fixture(scope="module")
def defaulted(tmp_path_factory: pytest.TempPathFactory) -> Iterator[StackHandle]:
    with pytest.MonkeyPatch.context() as env:
        env.setenv("LOCAL_CLIENT_BUDGETS", "client-alpha=500")
        stack, handle = start_stack(
            tmp_path_factory, schedule_seconds=3600, parameters={"DefaultDailyCreditBudget": str(DEFAULT)}
        )
    try:
        yield handle
    finally:
        stack.stop()


def test_a_client_without_a_budget_gets_the_default_and_one_with_its_own_keeps_it(
    defaulted: StackHandle,
) -> None:
    defaulted.scenario(render_seconds=0.2)
    first = defaulted.post_job(VOICE, key="key-beta")
    assert first.status_code == 202, first.text
    ended = defaulted.wait_for(first.json()["job_id"], {"completed", "failed"}, key="key-beta")
    assert ended["status"] == "completed", ended
    second = defaulted.post_job(VOICE, key="key-beta")
    assert second.status_code == 402, second.text
    assert second.json()["error"]["code"] == "budget_exceeded"
    usage = requests.get(f"{defaulted.api}/v1/usage", headers=defaulted.headers("key-beta"), timeout=10)
    assert usage.json()["daily_credit_budget"] == DEFAULT
    # Alpha's own 500 credits win over the default.
    for _ in range(2):
        answer = defaulted.post_job(VOICE, key="key-alpha")
        assert answer.status_code == 202, answer.text
