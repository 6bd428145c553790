"""The client-facing API through the local stack: every tool, idempotency under concurrency and
crashes, listing, Magic Hour's failures, presigned outputs."""

from __future__ import annotations

import json
import threading
import time
import uuid
from datetime import UTC, datetime
from urllib.parse import parse_qs, urlsplit

import pytest
import requests
from schema_inputs import first_required_path, minimal_valid, without

from pipeline.magic_hour.catalogue import all_tools
from pipeline.platform import ids
from pipeline.submit.idempotency import IN_PROGRESS_WAIT_SECONDS
from tests.observe import all_jobs
from tests.polling import poll

TOOLS = sorted(all_tools())
VOICE = {"tool": "ai-voice-generator", "input": {"style": {"prompt": "hi", "voice_name": "Elon Musk"}}}


def test_tools_lists_all_31_with_kind_and_required(stack) -> None:
    answer = requests.get(f"{stack.api}/v1/tools", headers=stack.headers(), timeout=10)
    assert answer.status_code == 200
    tools = {tool["tool"]: tool for tool in answer.json()["tools"]}
    assert len(tools) == 31  # CONTRACT §1b: the spec's 27 and the SDK's 4
    assert tools["face-swap"] == {
        "tool": "face-swap",
        "kind": "video",
        "required": ["assets", "end_seconds", "start_seconds"],
    }
    assert {tool["kind"] for tool in tools.values()} == {"video", "image", "audio"}


@pytest.mark.parametrize("tool", TOOLS)
def test_every_tool_accepts_a_valid_input_and_rejects_an_invalid_one_or_a_wrong_field(stack, tool) -> None:
    schema = all_tools()[tool].request_schema
    valid = minimal_valid(schema)
    created = stack.post_job({"tool": tool, "input": valid})
    assert created.status_code == 202, created.text
    assert created.json()["kind"] == all_tools()[tool].kind

    creates = stack.sim_stats()["creates"]
    path = first_required_path(schema)
    refused = stack.post_job({"tool": tool, "input": without(valid, path)})
    assert refused.status_code == 422, refused.text
    error = refused.json()["error"]
    assert error["code"] == "validation_failed"
    assert error["details"][0]["loc"] == ["body", "input", *path]
    # A field the tool does not have (a typo) is refused too, not passed on to be charged.
    wrong = stack.post_job({"tool": tool, "input": {**valid, "not_a_field": 1}})
    assert wrong.status_code == 422, wrong.text
    assert wrong.json()["error"]["code"] == "validation_failed"
    assert wrong.json()["error"]["details"][0]["loc"][:2] == ["body", "input"]
    assert stack.sim_stats()["creates"] == creates  # no credit spent on a bad input


def test_twenty_concurrent_identical_requests_make_one_project(stack) -> None:
    key = str(uuid.uuid4())
    stack.scenario(create_delay_seconds=0.5)  # keep the first request in flight while the others arrive
    creates = stack.sim_stats()["creates"]
    answers: list[requests.Response] = []
    barrier = threading.Barrier(20)

    def send() -> None:
        barrier.wait()
        answers.append(stack.post_job(VOICE, **{"Idempotency-Key": key}))

    threads = [threading.Thread(target=send) for _ in range(20)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert [a.status_code for a in answers] == [202] * 20, [a.text for a in answers if a.status_code != 202]
    assert len({a.json()["job_id"] for a in answers}) == 1
    assert stack.sim_stats()["creates"] - creates == 1


def _post_while_in_progress(stack, key: str, timeout: float = 60.0) -> requests.Response:
    """POST until the answer is not `409 idempotency_in_progress` (honouring its Retry-After), or
    the deadline passes."""
    deadline = time.monotonic() + timeout
    while True:
        answer = stack.post_job(VOICE, **{"Idempotency-Key": key})
        in_progress = (
            answer.status_code == 409 and answer.json()["error"]["code"] == "idempotency_in_progress"
        )
        if not in_progress or time.monotonic() > deadline:
            return answer
        time.sleep(float(answer.headers["Retry-After"]))


def test_a_project_that_cannot_be_recorded_is_answered_202_and_settled_by_its_webhook(stack) -> None:
    """Without an Idempotency-Key a 5xx would invite a second, charged create: the answer is the
    job as it stands, and the webhook records the project the request could not."""
    creates = stack.sim_stats()["creates"]
    stack.stack.faults.inject("UpdateItem", count=1000)
    # The job and its budget reservation are one transaction, and so is the record of the project
    # with its charge: the first passes, the record fails.
    stack.stack.faults.inject("TransactWriteItems", count=1000, after=1)
    first = stack.post_job(VOICE)
    stack.stack.faults.clear()
    assert first.status_code == 202, first.text
    # As it stands to a client: nothing could be written, so its create still reads as in flight.
    assert first.json()["status"] == "waiting"
    job = stack.wait_for(first.json()["job_id"], {"completed", "failed"})
    assert job["status"] == "completed"
    assert stack.sim_stats()["creates"] - creates == 1


def test_retry_after_a_crash_between_create_and_record_makes_no_second_project(stack) -> None:
    """Magic Hour created the project, then our write of its id failed (DynamoDB down). The
    request is never answered 5xx once Magic Hour named a project (a client retrying an error
    without an Idempotency-Key would pay twice): it answers 202 with the job as it stands,
    `submitting`. A retry with the same key finds the job and does not create again; the project's
    first webhook (its name carries our job id) settles the job. The request could not end its
    claim either: until the claim runs out (the create timeout) a retry may be told
    `idempotency_in_progress`, never more than that, and never creates."""
    key = str(uuid.uuid4())
    creates = stack.sim_stats()["creates"]
    stack.stack.faults.inject("UpdateItem", count=1000)
    # The job and its budget reservation are one transaction, and so is the record of the project
    # with its charge: the first passes, the record fails.
    stack.stack.faults.inject("TransactWriteItems", count=1000, after=1)
    first = stack.post_job(VOICE, **{"Idempotency-Key": key})
    stack.stack.faults.clear()
    assert first.status_code == 202, first.text
    assert (first.json()["status"], first.json()["project_id"]) == ("waiting", None)
    assert stack.sim_stats()["creates"] - creates == 1

    retry = _post_while_in_progress(stack, key)
    assert retry.status_code == 202, retry.text
    assert stack.sim_stats()["creates"] - creates == 1
    job = stack.wait_for(retry.json()["job_id"], {"completed", "failed"})
    assert job["status"] == "completed"
    assert job["project_id"]


def test_a_duplicate_of_a_request_still_creating_is_409_in_progress_then_the_same_job(stack) -> None:
    key = str(uuid.uuid4())
    job_id = ids.job_id_for_idempotency_key("client-alpha", key)
    # The first request's create outlasts the duplicate's wait.
    stack.scenario(create_delay_seconds=IN_PROGRESS_WAIT_SECONDS + 3)
    creates = stack.sim_stats()["creates"]
    first: list[requests.Response] = []
    sender = threading.Thread(target=lambda: first.append(stack.post_job(VOICE, **{"Idempotency-Key": key})))
    sender.start()
    poll(  # the first request has written its job
        lambda: stack.get_job(job_id).status_code,
        10,
        "the first request's job",
        until=lambda status: status != 404,
        interval=0.05,
    )

    duplicate = stack.post_job(VOICE, **{"Idempotency-Key": key})
    sender.join()
    assert duplicate.status_code == 409, duplicate.text
    assert duplicate.json()["error"]["code"] == "idempotency_in_progress"
    assert duplicate.json()["error"]["details"] == [{"loc": ["job_id"], "msg": job_id}]
    assert duplicate.headers["Retry-After"] == "1"
    assert first[0].status_code == 202, first[0].text
    assert first[0].json()["job_id"] == job_id

    again = stack.post_job(VOICE, **{"Idempotency-Key": key})
    assert again.status_code == 202, again.text
    assert again.json()["job_id"] == job_id
    assert stack.sim_stats()["creates"] - creates == 1


def test_idempotency_keys_are_scoped_per_client(stack) -> None:
    key = str(uuid.uuid4())
    creates = stack.sim_stats()["creates"]
    alpha = stack.post_job(VOICE, key="key-alpha", **{"Idempotency-Key": key})
    beta = stack.post_job(VOICE, key="key-beta", **{"Idempotency-Key": key})
    assert alpha.status_code == beta.status_code == 202
    assert alpha.json()["job_id"] != beta.json()["job_id"]
    assert stack.sim_stats()["creates"] - creates == 2


# 403 is the plan's limit, not our key: tests/integration/test_api_errors.py (plan_restricted).
def test_magic_hour_rejecting_our_key_is_502_and_keeps_no_job(stack) -> None:
    stack.scenario(create_status=401)
    key = str(uuid.uuid4())
    before = {job["job_id"] for job in all_jobs(stack)}
    answer = stack.post_job(VOICE, **{"Idempotency-Key": key})
    assert answer.status_code == 502
    assert answer.json()["error"]["code"] == "upstream_misconfigured"
    # No job: not under the id this key names, not in the client's list.
    job_id = ids.job_id_for_idempotency_key("client-alpha", key)
    assert stack.get_job(job_id).status_code == 404
    assert {job["job_id"] for job in all_jobs(stack)} == before
    # Once the key is fixed, the same request starts over and is created (nothing was kept).
    requests.delete(f"{stack.magic_hour}/_sim/scenario", timeout=5).raise_for_status()
    creates = stack.sim_stats()["creates"]
    retry = stack.post_job(VOICE, **{"Idempotency-Key": key})
    assert retry.status_code == 202, retry.text
    assert retry.json()["job_id"] == job_id
    assert retry.json()["status"] != "failed"
    assert stack.sim_stats()["creates"] - creates == 1


def test_list_is_newest_first_paged_and_filtered(stack) -> None:
    headers = stack.headers("key-gamma")
    made = [stack.post_job(VOICE, key="key-gamma").json()["job_id"] for _ in range(5)]
    for job_id in made:
        stack.wait_for(job_id, {"completed"}, key="key-gamma")

    seen: list[str] = []
    cursor = None
    pages = 0
    while True:
        query = "limit=2" + (f"&cursor={cursor}" if cursor else "")
        page = requests.get(f"{stack.api}/v1/jobs?{query}", headers=headers, timeout=10).json()
        assert len(page["jobs"]) <= 2
        seen += [job["job_id"] for job in page["jobs"]]
        pages += 1
        cursor = page["next_cursor"]
        if not cursor:
            break
    assert seen[:5] == list(reversed(made))
    assert pages >= 3

    completed = all_jobs(stack, "key-gamma", status="completed")
    assert {j["job_id"] for j in completed} >= set(made)
    assert all(j["status"] == "completed" for j in completed)
    queued = requests.get(f"{stack.api}/v1/jobs?status=queued", headers=headers, timeout=10).json()
    assert not set(made) & {j["job_id"] for j in queued["jobs"]}


@pytest.mark.parametrize(
    ("query", "status", "code"),
    [
        ("limit=0", 422, "validation_failed"),
        ("limit=101", 422, "validation_failed"),
        ("limit=ten", 422, "validation_failed"),
        ("status=done", 422, "validation_failed"),
        ("cursor=not-a-cursor", 400, "invalid_cursor"),
    ],
)
def test_bad_list_queries_are_4xx(stack, query, status, code) -> None:
    answer = requests.get(f"{stack.api}/v1/jobs?{query}", headers=stack.headers(), timeout=10)
    assert answer.status_code == status, answer.text
    assert answer.json()["error"]["code"] == code


def test_empty_query_parameters_mean_the_defaults(stack) -> None:
    answer = requests.get(f"{stack.api}/v1/jobs?status=&limit=&cursor=", headers=stack.headers(), timeout=10)
    assert answer.status_code == 200, answer.text
    assert len(answer.json()["jobs"]) <= 20


def test_a_cursor_only_continues_the_listing_it_came_from(stack) -> None:
    for _ in range(2):
        stack.post_job(VOICE, key="key-beta")
    page = requests.get(f"{stack.api}/v1/jobs?limit=1", headers=stack.headers("key-beta"), timeout=10).json()
    assert page["next_cursor"]
    answer = requests.get(
        f"{stack.api}/v1/jobs?status=queued&cursor={page['next_cursor']}",
        headers=stack.headers("key-beta"),
        timeout=10,
    )
    assert answer.status_code == 400
    assert answer.json()["error"]["code"] == "invalid_cursor"


def test_another_clients_cursor_is_refused(stack) -> None:
    for _ in range(2):
        stack.post_job(VOICE, key="key-beta")
    cursor = requests.get(
        f"{stack.api}/v1/jobs?limit=1", headers=stack.headers("key-beta"), timeout=10
    ).json()["next_cursor"]
    assert cursor
    answer = requests.get(
        f"{stack.api}/v1/jobs?cursor={cursor}", headers=stack.headers("key-alpha"), timeout=10
    )
    assert answer.status_code == 400
    assert answer.json()["error"]["code"] == "invalid_cursor"


def test_other_clients_jobs_never_appear_in_a_list(stack) -> None:
    mine = stack.post_job(VOICE, key="key-beta").json()["job_id"]
    assert mine not in {job["job_id"] for job in all_jobs(stack, "key-alpha")}
    assert mine in {job["job_id"] for job in all_jobs(stack, "key-beta")}


def test_completed_outputs_have_presigned_urls_valid_for_an_hour(stack) -> None:
    job = stack.wait_for(stack.post_job(VOICE).json()["job_id"], {"completed"})
    output = job["outputs"][0]
    query = parse_qs(urlsplit(output["download_url"]).query)
    assert query["X-Amz-Expires"] == ["3600"]
    expires = datetime.fromisoformat(output["download_url_expires_at"].replace("Z", "+00:00"))
    remaining = (expires - datetime.now(UTC)).total_seconds()
    assert 3500 < remaining <= 3600


def test_a_body_of_emoji_under_the_limit_is_stored_and_created(stack) -> None:
    """60,000 emoji: a 240 KB body. Stored escaped it was a 720 KB item DynamoDB refused, and the
    answer was 503 for ever; stored as UTF-8 it fits, with room for the rest of the job's life."""
    prompt = "\U0001f600" * 60_000
    body = {"tool": "ai-voice-generator", "input": {"style": {"prompt": prompt, "voice_name": "Elon Musk"}}}
    creates = stack.sim_stats()["creates"]
    raw = json.dumps(body, ensure_ascii=False).encode()  # UTF-8 on the wire, as a client sends it
    assert 240_000 < len(raw) < 256 * 1024
    answer = stack.post_job(raw)
    assert answer.status_code == 202, answer.text[:500]
    job = stack.wait_for(answer.json()["job_id"], {"completed", "failed"})
    assert job["status"] == "completed"
    assert stack.sim_stats()["creates"] - creates == 1
