"""POST /v1/batches (inline) and GET /v1/batches/{batch_id} through the local stack over HTTP
(CONTRACT §1 "Batches"), on a stack of its own with client-gamma's budget at 100 credits."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
import requests
from conftest import StackHandle, fresh_scenario, own_stack

from tests.observe import all_jobs
from tests.polling import poll

VOICE = {"tool": "ai-voice-generator", "input": {"style": {"prompt": "hi", "voice_name": "Elon Musk"}}}


@pytest.fixture(scope="module")
def batched(tmp_path_factory: pytest.TempPathFactory) -> Iterator[StackHandle]:
    with own_stack(tmp_path_factory, budgets="client-gamma=100") as handle:
        yield handle


@pytest.fixture
def stack(batched: StackHandle) -> StackHandle:
    return fresh_scenario(batched, render_seconds=0.2)


def post_batch(stack: StackHandle, body: Any, key: str = "key-alpha", **headers: str) -> requests.Response:
    return requests.post(
        f"{stack.api}/v1/batches", json=body, headers=stack.headers(key, **headers), timeout=30
    )


def get_batch(stack: StackHandle, batch_id: str, key: str = "key-alpha") -> requests.Response:
    return requests.get(f"{stack.api}/v1/batches/{batch_id}", headers=stack.headers(key), timeout=10)


def jobs(n: int, prefix: str = "row") -> list[dict[str, Any]]:
    return [{"custom_id": f"{prefix}-{i}", **VOICE} for i in range(n)]


def wait_counts(
    stack: StackHandle, batch_id: str, expected: dict[str, int], timeout: float = 60
) -> dict[str, Any]:
    batch: dict[str, Any] = poll(
        lambda: get_batch(stack, batch_id).json(),
        timeout,
        f"the batch's counts {expected}",
        until=lambda batch: {k: v for k, v in batch["counts"].items() if v} == expected,
        interval=0.2,
    )
    return batch


def wait_status(stack: StackHandle, batch_id: str, status: str, timeout: float = 30) -> dict[str, Any]:
    batch: dict[str, Any] = poll(
        lambda: get_batch(stack, batch_id).json(),
        timeout,
        f"the batch's status {status}",
        until=lambda batch: batch["status"] == status,
        interval=0.2,
    )
    return batch


def test_a_batch_runs_its_jobs_and_its_counts_follow_them(stack: StackHandle) -> None:
    answer = post_batch(stack, {"jobs": jobs(3), "metadata": {"run": 1}})
    assert answer.status_code == 202, answer.text
    batch = answer.json()
    assert batch["status"] == "running"
    assert batch["counts"]["total"] == 3
    assert batch["metadata"] == {"run": 1}
    assert answer.headers["Location"] == f"/v1/batches/{batch['batch_id']}"
    wait_counts(stack, batch["batch_id"], {"total": 3, "completed": 3})
    ended = wait_status(stack, batch["batch_id"], "completed")
    assert ended["ended_at"] is not None
    mine = [job for job in all_jobs(stack) if job["batch_id"] == batch["batch_id"]]
    assert sorted(job["custom_id"] for job in mine) == ["row-0", "row-1", "row-2"]
    assert {job["status"] for job in mine} == {"completed"}


def test_one_bad_job_refuses_the_batch_and_writes_nothing(stack: StackHandle) -> None:
    before = len(all_jobs(stack))
    bad = jobs(3)
    bad[1] = {**bad[1], "input": {"style": {}}}
    bad[2] = {**bad[2], "custom_id": "row-0"}
    answer = post_batch(stack, {"jobs": bad})
    assert answer.status_code == 422, answer.text
    locs = [detail["loc"][:4] for detail in answer.json()["error"]["details"]]
    assert ["body", "jobs", 1, "input"] in locs
    assert ["body", "jobs", 2, "custom_id"] in locs
    assert len(all_jobs(stack)) == before


def test_the_same_key_and_body_is_the_same_batch(stack: StackHandle) -> None:
    first = post_batch(stack, {"jobs": jobs(2, "idem")}, **{"Idempotency-Key": "batch-key-1"})
    again = post_batch(stack, {"jobs": jobs(2, "idem")}, **{"Idempotency-Key": "batch-key-1"})
    assert (first.status_code, again.status_code) == (202, 202), (first.text, again.text)
    assert again.json()["batch_id"] == first.json()["batch_id"]
    other = post_batch(stack, {"jobs": jobs(3, "idem")}, **{"Idempotency-Key": "batch-key-1"})
    assert other.status_code == 409, other.text
    assert other.json()["error"]["code"] == "idempotency_conflict"
    wait_counts(stack, first.json()["batch_id"], {"total": 2, "completed": 2})
    assert len([job for job in all_jobs(stack) if job["batch_id"] == first.json()["batch_id"]]) == 2


def test_a_batch_over_the_budget_as_a_whole_is_refused(stack: StackHandle) -> None:
    """Voice jobs cost 20 credits: 6 of them (120) do not fit in 100, though each alone would."""
    answer = post_batch(stack, {"jobs": jobs(6)}, key="key-gamma")
    assert answer.status_code == 402, answer.text
    assert answer.json()["error"]["code"] == "budget_exceeded"
    assert all_jobs(stack, "key-gamma") == []
    fits = post_batch(stack, {"jobs": jobs(2)}, key="key-gamma")
    assert fits.status_code == 202, fits.text


def test_another_clients_batch_is_not_found(stack: StackHandle) -> None:
    batch = post_batch(stack, {"jobs": jobs(1)}).json()
    for batch_id, key in [(batch["batch_id"], "key-beta"), ("batch_nope", "key-alpha")]:
        answer = get_batch(stack, batch_id, key)
        assert answer.status_code == 404, answer.text
        assert answer.json()["error"]["code"] == "not_found"


def test_a_batchs_jobs_are_listed_in_its_order_page_by_page(stack: StackHandle) -> None:
    batch = post_batch(stack, {"jobs": jobs(5, "page")}).json()
    url = f"{stack.api}/v1/batches/{batch['batch_id']}/jobs"
    wait_status(stack, batch["batch_id"], "completed")
    seen: list[str] = []
    cursor: str | None = None
    while True:
        params = {"limit": "2", **({"cursor": cursor} if cursor else {})}
        page = requests.get(url, params=params, headers=stack.headers(), timeout=10)
        assert page.status_code == 200, page.text
        assert len(page.json()["jobs"]) <= 2
        seen += [job["custom_id"] for job in page.json()["jobs"]]
        cursor = page.json()["next_cursor"]
        if not cursor:
            break
    assert seen == [f"page-{i}" for i in range(5)]
    filtered = requests.get(url, params={"status": "failed"}, headers=stack.headers(), timeout=10).json()
    assert filtered == {"jobs": [], "next_cursor": None}
    first = requests.get(url, params={"limit": "2"}, headers=stack.headers(), timeout=10).json()
    # A cursor is bound to its batch, its filter and its client.
    for params, key in [
        ({"cursor": first["next_cursor"], "status": "completed"}, "key-alpha"),
        ({"cursor": "bm9wZQ"}, "key-alpha"),
    ]:
        answer = requests.get(url, params=params, headers=stack.headers(key), timeout=10)
        assert answer.status_code == 400, answer.text
        assert answer.json()["error"]["code"] == "invalid_cursor"
    assert requests.get(url, headers=stack.headers("key-beta"), timeout=10).status_code == 404


def list_batches(stack: StackHandle, key: str = "key-alpha", **params: str) -> requests.Response:
    return requests.get(f"{stack.api}/v1/batches", params=params, headers=stack.headers(key), timeout=10)


def test_the_clients_batches_are_listed_newest_first_page_by_page(stack: StackHandle) -> None:
    made = [
        post_batch(stack, {"jobs": jobs(1, f"list{i}")}, key="key-beta").json()["batch_id"] for i in range(3)
    ]
    seen: list[str] = []
    cursor: str | None = None
    while True:
        page = list_batches(stack, "key-beta", limit="2", **({"cursor": cursor} if cursor else {}))
        assert page.status_code == 200, page.text
        assert len(page.json()["batches"]) <= 2
        seen += [batch["batch_id"] for batch in page.json()["batches"]]
        cursor = page.json()["next_cursor"]
        if not cursor:
            break
    assert seen[: len(made)] == made[::-1]
    assert set(made) <= set(seen)
    # Another client's batches are never listed, and its cursors are not accepted.
    alpha = {batch["batch_id"] for batch in list_batches(stack, limit="100").json()["batches"]}
    assert alpha.isdisjoint(made)
    beta_cursor = list_batches(stack, "key-beta", limit="1").json()["next_cursor"]
    assert beta_cursor
    for params in [{"cursor": beta_cursor}, {"cursor": "bm9wZQ"}, {"cursor": beta_cursor[:-2] + "xx"}]:
        answer = list_batches(stack, "key-alpha", **params)
        assert answer.status_code == 400, answer.text
        assert answer.json()["error"]["code"] == "invalid_cursor"
    for limit in ["0", "101", "x"]:
        answer = list_batches(stack, "key-beta", limit=limit)
        assert answer.status_code == 422, answer.text
        assert answer.json()["error"]["details"][0]["loc"] == ["query", "limit"]
