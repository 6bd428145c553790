"""Daily credit budgets and GET /v1/usage through the local stack over HTTP, on a stack of their
own whose clients have budgets (LOCAL_CLIENT_BUDGETS): alpha 500 credits, gamma 200, beta none."""

from __future__ import annotations

import threading
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import pytest
import requests
from conftest import StackHandle, fresh_scenario, own_stack

from pipeline.platform import ids
from tests.polling import poll

# 5 s of video at the simulator's 30 credits a second: 150 credits a job.
VIDEO = {"tool": "text-to-video", "input": {"end_seconds": 5, "style": {"prompt": "rain on a window"}}}
VIDEO_CREDITS = 150
VOICE = {"tool": "ai-voice-generator", "input": {"style": {"prompt": "hi", "voice_name": "Elon Musk"}}}
VOICE_CREDITS = 20


@pytest.fixture(scope="module")
def budgeted(tmp_path_factory: pytest.TempPathFactory) -> Iterator[StackHandle]:
    # A short create timeout shows a project adopted by its webhook within seconds.
    with own_stack(
        tmp_path_factory,
        parameters={"MagicHourReadTimeoutSeconds": "1"},
        budgets="client-alpha=500, client-gamma=200",
    ) as handle:
        yield handle


@pytest.fixture
def stack(budgeted: StackHandle) -> Iterator[StackHandle]:
    yield fresh_scenario(budgeted, render_seconds=0.3)
    requests.delete(f"{budgeted.magic_hour}/_sim/scenario", timeout=5)


def usage(stack: StackHandle, key: str, query: str = "") -> requests.Response:
    return requests.get(f"{stack.api}/v1/usage{query}", headers=stack.headers(key), timeout=10)


def counters(stack: StackHandle, key: str) -> tuple[int, int]:
    answer = usage(stack, key)
    assert answer.status_code == 200, answer.text
    return answer.json()["credits_charged"], answer.json()["jobs"]


def today() -> str:
    return datetime.now(UTC).date().isoformat()


def wait_for_counters(stack: StackHandle, key: str, expected: tuple[int, int], timeout: float = 15) -> None:
    poll(
        lambda: counters(stack, key),
        timeout,
        f"usage of {key} at {expected}",
        until=lambda seen: seen == expected,
    )


def job_ids(stack: StackHandle, key: str) -> set[str]:
    page = requests.get(f"{stack.api}/v1/jobs?limit=100", headers=stack.headers(key), timeout=10).json()
    return {job["job_id"] for job in page["jobs"]}


def test_submissions_are_refused_once_the_budget_is_reached(stack: StackHandle) -> None:
    start = usage(stack, "key-alpha")
    assert start.status_code == 200
    assert start.json() == {
        "day": today(),
        "credits_charged": 0,
        "jobs": 0,
        "daily_credit_budget": 500,
        "uploads": 0,
    }

    accepted: list[tuple[str, str]] = []
    refused: requests.Response | None = None
    refused_key = ""
    creates_before_refusal = 0
    for attempt in range(10):
        key = f"budget-{uuid.uuid4()}-{attempt}"
        creates_before_refusal = stack.sim_stats()["creates"]
        answer = stack.post_job(VIDEO, "key-alpha", **{"Idempotency-Key": key})
        if answer.status_code == 402:
            refused, refused_key = answer, key
            break
        assert answer.status_code == 202, answer.text
        accepted.append((key, answer.json()["job_id"]))

    # Each job reserves its 150 credits before anything is sent: 450 fit in 500, a fourth would not.
    assert len(accepted) == 3
    assert refused is not None
    error = refused.json()["error"]
    assert error["code"] == "budget_exceeded"
    assert "500" in error["message"]
    assert "450" in error["message"]
    assert "150" in error["message"]
    assert refused.headers["Content-Type"].startswith("application/json")
    assert 1 <= int(refused.headers["Retry-After"]) <= 86400
    # Nothing went to Magic Hour and no job was kept.
    assert stack.sim_stats()["creates"] == creates_before_refusal
    refused_job = ids.job_id_for_idempotency_key("client-alpha", refused_key)
    assert stack.get_job(refused_job, "key-alpha").status_code == 404
    assert job_ids(stack, "key-alpha") == {job_id for _, job_id in accepted}

    spent = usage(stack, "key-alpha").json()
    assert spent == {
        "day": today(),
        "credits_charged": 450,
        "jobs": 3,
        "daily_credit_budget": 500,
        "uploads": 0,
    }

    # Without an Idempotency-Key too; and a retry of the refused request is refused again.
    assert stack.post_job(VIDEO, "key-alpha").json()["error"]["code"] == "budget_exceeded"
    again = stack.post_job(VIDEO, "key-alpha", **{"Idempotency-Key": refused_key})
    assert again.status_code == 402
    assert stack.sim_stats()["creates"] == creates_before_refusal

    # A replay of an existing job is no new spending: it answers that job, and creates nothing.
    first_key, first_job = accepted[0]
    replay = stack.post_job(VIDEO, "key-alpha", **{"Idempotency-Key": first_key})
    assert replay.status_code == 202, replay.text
    assert replay.json()["job_id"] == first_job
    conflict = stack.post_job(VOICE, "key-alpha", **{"Idempotency-Key": first_key})
    assert conflict.status_code == 409
    assert conflict.json()["error"]["code"] == "idempotency_conflict"
    assert stack.sim_stats()["creates"] == creates_before_refusal
    assert counters(stack, "key-alpha") == (450, 3)

    # Another client is unaffected, and its spending is its own.
    beta_before = counters(stack, "key-beta")
    other = stack.post_job(VIDEO, "key-beta")
    assert other.status_code == 202, other.text
    assert counters(stack, "key-beta") == (beta_before[0] + VIDEO_CREDITS, beta_before[1] + 1)
    assert counters(stack, "key-alpha") == (450, 3)


def test_a_failed_job_is_refunded_and_stops_counting(stack: StackHandle) -> None:
    # Long enough a render to see the charge count before Magic Hour fails the job.
    stack.scenario(outcome="error", render_seconds=3)
    first = stack.post_job(VIDEO, "key-gamma")
    assert first.status_code == 202, first.text
    assert counters(stack, "key-gamma") == (VIDEO_CREDITS, 1)
    # While charged it counts: 150 of gamma's 200 credits are spent, another 150 cannot fit.
    refused = stack.post_job(VIDEO, "key-gamma")
    assert refused.status_code == 402, refused.text
    assert refused.json()["error"]["code"] == "budget_exceeded"

    failed = stack.wait_for(first.json()["job_id"], {"failed", "completed"}, timeout=30, key="key-gamma")
    assert failed["status"] == "failed"
    assert failed["error"]["source"] == "magic_hour"
    wait_for_counters(stack, "key-gamma", (0, 0))

    stack.scenario(outcome="complete", render_seconds=0.3)
    after = stack.post_job(VIDEO, "key-gamma")
    assert after.status_code == 202, after.text
    done = stack.wait_for(after.json()["job_id"], {"completed", "failed"}, timeout=30, key="key-gamma")
    assert done["status"] == "completed"
    assert counters(stack, "key-gamma") == (VIDEO_CREDITS, 1)


def test_a_project_adopted_from_its_webhook_is_charged_once(stack: StackHandle) -> None:
    """The create outlives our timeout (202, job kept `submitting`); the project's webhook adopts
    it, and that is when its credits are counted."""
    before = counters(stack, "key-beta")
    stack.scenario(create_delay_seconds=2, render_seconds=0.5)
    slow = stack.post_job(VOICE, "key-beta")
    assert slow.status_code == 202, slow.text
    assert slow.json()["status"] == "submitting"
    assert counters(stack, "key-beta") == before  # not known to be charged yet
    job_id = slow.json()["job_id"]
    job = stack.wait_for(job_id, {"completed", "failed"}, timeout=30, key="key-beta")
    assert job["status"] == "completed"
    assert counters(stack, "key-beta") == (before[0] + VOICE_CREDITS, before[1] + 1)


def set_budget(stack: StackHandle, client_id: str, credits: int | None) -> None:
    """What the operator command does: the budget on the client's profile item."""
    from local.resources import client

    dynamodb = client("dynamodb", stack.aws, "us-east-1")
    key = {"client_id": {"S": client_id}, "item": {"S": "profile"}}
    table = stack.stack.resolver.refs["ClientsTable"]
    if credits is None:
        dynamodb.update_item(TableName=table, Key=key, UpdateExpression="REMOVE daily_credit_budget")
    else:
        dynamodb.update_item(
            TableName=table,
            Key=key,
            UpdateExpression="SET daily_credit_budget = :c",
            ExpressionAttributeValues={":c": {"N": str(credits)}},
        )


@pytest.mark.parametrize(("creates", "budget"), [(10, 1000), (100, 3000)])
def test_simultaneous_creates_never_spend_beyond_the_budget(
    stack: StackHandle, creates: int, budget: int
) -> None:
    """`creates` POSTs at once (threads) against a budget that fits budget // 150 of them: exactly
    that many are admitted and created, the others are 402 with nothing sent, and what Magic Hour
    charged stays within the budget."""
    spent, jobs = counters(stack, "key-beta")
    set_budget(stack, "client-beta", spent + budget)
    sim_before = stack.sim_stats()["creates"]
    try:
        answers: list[requests.Response] = []
        lock = threading.Lock()
        barrier = threading.Barrier(creates)

        failures: list[BaseException] = []

        def send() -> None:
            barrier.wait()
            try:
                # A slow answer under this load is no failure of the bound: wait for it.
                answer = requests.post(
                    f"{stack.api}/v1/jobs", json=VIDEO, headers=stack.headers("key-beta"), timeout=120
                )
            except requests.RequestException as exc:
                with lock:
                    failures.append(exc)
                return
            with lock:
                answers.append(answer)

        threads = [threading.Thread(target=send) for _ in range(creates)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        assert failures == []
        statuses = sorted(answer.status_code for answer in answers)
        admitted = statuses.count(202)
        assert statuses == [202] * admitted + [402] * (creates - admitted), [
            a.text for a in answers if a.status_code not in (202, 402)
        ]
        # The estimate is the simulator's charge, so every job that fits is admitted, and no more.
        assert admitted == budget // VIDEO_CREDITS
        assert stack.sim_stats()["creates"] - sim_before == admitted  # nothing sent beyond
        charged, counted_jobs = counters(stack, "key-beta")
        assert (charged - spent, counted_jobs - jobs) == (admitted * VIDEO_CREDITS, admitted)
        assert charged - spent <= budget
        assert stack.post_job(VIDEO, "key-beta").status_code == 402
        print(
            f"\n{creates} simultaneous creates, budget {budget}: {admitted} created, "
            f"{charged - spent} credits charged"
        )
    finally:
        set_budget(stack, "client-beta", None)
    assert stack.post_job(VOICE, "key-beta").status_code == 202


def test_a_waiting_job_is_charged_when_it_is_created(stack: StackHandle) -> None:
    """Magic Hour answers 429: the job waits (nothing charged), and counts once the dispatcher
    has created it."""
    before = counters(stack, "key-beta")
    stack.scenario(create_status=429)
    waiting = stack.post_job(VOICE, "key-beta")
    assert waiting.status_code == 202, waiting.text
    assert waiting.json()["status"] == "waiting"
    assert counters(stack, "key-beta") == before
    requests.delete(f"{stack.magic_hour}/_sim/scenario", timeout=5).raise_for_status()
    job = stack.wait_for(waiting.json()["job_id"], {"completed", "failed"}, timeout=60, key="key-beta")
    assert job["status"] == "completed", job
    assert counters(stack, "key-beta") == (before[0] + VOICE_CREDITS, before[1] + 1)


def test_usage_without_a_budget_and_for_another_day(stack: StackHandle) -> None:
    answer = usage(stack, "key-beta", "?day=")
    assert answer.status_code == 200
    body: dict[str, Any] = answer.json()
    assert set(body) == {"day", "credits_charged", "jobs", "daily_credit_budget", "uploads"}
    assert body["day"] == today()
    assert body["daily_credit_budget"] is None
    past = usage(stack, "key-alpha", "?day=2020-02-29")
    assert past.json() == {
        "day": "2020-02-29",
        "credits_charged": 0,
        "jobs": 0,
        "daily_credit_budget": 500,
        "uploads": 0,
    }


@pytest.mark.parametrize("day", ["2026-02-30", "2026-1-01", "20261201", "yesterday", "2026-12-01T00:00:00Z"])
def test_a_malformed_day_is_422_at_query_day(stack: StackHandle, day: str) -> None:
    answer = usage(stack, "key-alpha", f"?day={day}")
    assert answer.status_code == 422, answer.text
    error = answer.json()["error"]
    assert error["code"] == "validation_failed"
    assert [detail["loc"] for detail in error["details"]] == [["query", "day"]]


def test_usage_needs_an_api_key(stack: StackHandle) -> None:
    answer = requests.get(f"{stack.api}/v1/usage", timeout=10)
    assert answer.status_code == 401
    assert answer.json()["error"]["code"] == "unauthorized"
