"""Money safety through the local stack over HTTP: jobs wait their turn for a Magic Hour slot
(fairly between clients), creates Magic Hour could not take are retried, a create whose outcome
is unknown is never sent twice, and a terminal status is final."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from typing import Any

import pytest
import requests
from conftest import MAGIC_HOUR_KEY, StackHandle, start_stack

from pipeline.platform import ids
from tests.observe import download_batches, wait_drained
from tests.polling import poll

VOICE = {"tool": "ai-voice-generator", "input": {"style": {"prompt": "hi", "voice_name": "Elon Musk"}}}
LIMIT = 3


def _eventually(check: Callable[[], Any], timeout: float, what: str) -> Any:
    return poll(check, timeout, what, interval=0.2)


def _projects(stack: StackHandle) -> list[dict[str, Any]]:
    answer = requests.get(f"{stack.magic_hour}/_sim/projects", timeout=5)
    answer.raise_for_status()
    body = answer.json()
    return list(body["projects"] if isinstance(body, dict) else body)


class ActiveWatcher:
    """Samples how many of the simulator's projects are queued or rendering at once."""

    def __init__(self, stack: StackHandle) -> None:
        self.stack = stack
        self.most = 0
        self.samples = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def __enter__(self) -> ActiveWatcher:
        self._thread.start()
        return self

    def __exit__(self, *_: object) -> None:
        self._stop.set()
        self._thread.join(timeout=10)

    def _run(self) -> None:
        while not self._stop.is_set():
            active = sum(p["status"] in ("queued", "rendering") for p in _projects(self.stack))
            self.most = max(self.most, active)
            self.samples += 1
            time.sleep(0.1)


@pytest.fixture(scope="module")
def limited(tmp_path_factory: pytest.TempPathFactory) -> Iterator[StackHandle]:
    stack, handle = start_stack(
        tmp_path_factory,
        schedule_seconds=1,
        parameters={"MagicHourMaxConcurrency": str(LIMIT), "CreateDeadlineSeconds": "6"},
    )
    try:
        yield handle
    finally:
        stack.stop()


@pytest.fixture
def slots(limited: StackHandle) -> Iterator[StackHandle]:
    requests.delete(f"{limited.magic_hour}/_sim/scenario", timeout=5).raise_for_status()
    # Every test starts with no job holding a slot.
    _eventually(lambda: not _holders(limited), 30, "slots freed by earlier tests")
    yield limited
    requests.delete(f"{limited.magic_hour}/_sim/scenario", timeout=5)


def _holders(stack: StackHandle) -> dict[str, Any]:
    from local.resources import client

    answer = client("dynamodb", stack.aws, "us-east-1").query(
        TableName=stack.stack.resolver.refs["ClientsTable"],
        KeyConditionExpression="client_id = :p AND begins_with(#i, :s)",
        ExpressionAttributeNames={"#i": "item"},
        ExpressionAttributeValues={":p": {"S": "#pipeline"}, ":s": {"S": "slot#"}},
        ConsistentRead=True,
    )
    return {item["item"]["S"]: item["holder"]["S"] for item in answer["Items"] if "holder" in item}


def _submit_all(stack: StackHandle, bodies: list[tuple[str, dict[str, Any]]]) -> list[dict[str, Any]]:
    answers: list[dict[str, Any]] = [{} for _ in bodies]

    def send(i: int, key: str, body: dict[str, Any]) -> None:
        response = stack.post_job(body, key=key)
        assert response.status_code == 202, response.text
        answers[i] = response.json()

    threads = [threading.Thread(target=send, args=(i, key, body)) for i, (key, body) in enumerate(bodies)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return answers


def test_a_burst_waits_for_slots_and_never_exceeds_the_limit(slots: StackHandle) -> None:
    # Magic Hour's plan allows what our limit allows: it should never have to refuse a create.
    slots.scenario(render_seconds=0.6, webhook_duplicates=2, plan_concurrency=LIMIT)
    before = slots.sim_stats()
    with ActiveWatcher(slots) as watcher:
        jobs = _submit_all(slots, [("key-alpha", VOICE)] * 12)
        assert {job["status"] for job in jobs} <= {"waiting", "queued", "submitting"}
        assert sum(job["status"] == "waiting" for job in jobs) >= 12 - LIMIT
        waiting = next(job for job in jobs if job["status"] == "waiting")
        assert waiting["project_id"] is None
        assert waiting["error"] is None
        for job in jobs:
            done = slots.wait_for(job["job_id"], {"completed", "failed"}, timeout=90)
            assert done["status"] == "completed", done
    assert 0 < watcher.most <= LIMIT
    assert watcher.samples > 10
    after = slots.sim_stats()
    assert after["rejected_creates"] == before["rejected_creates"]
    assert after["max_active"] <= LIMIT
    assert after["creates"] - before["creates"] == len(jobs)
    # One Magic Hour project per job, whatever the duplicates.
    names = [p["name"] for p in _projects(slots)]
    for job in jobs:
        assert sum(ids.job_id_from_project_name(name) == job["job_id"] for name in names) == 1
    assert not _holders(slots)


def test_another_clients_single_job_waits_at_most_one_slot_release(slots: StackHandle) -> None:
    slots.scenario(render_seconds=3.0)
    burst = [slots.post_job(VOICE, key="key-alpha").json() for _ in range(6)]
    single = slots.post_job(VOICE, key="key-beta").json()
    # (It may even take a slot at once, if one freed meanwhile: it is next in line either way.)
    assert single["status"] in ("waiting", "queued")
    slots.wait_for(single["job_id"], {"completed"}, timeout=60, key="key-beta")
    burst_ids = [job["job_id"] for job in burst]
    ours = {*burst_ids, single["job_id"]}
    created = sorted(
        (p for p in _projects(slots) if ids.job_id_from_project_name(p["name"]) in ours),
        key=lambda p: p["created_at"],
    )
    order = [ids.job_id_from_project_name(p["name"]) for p in created]
    single_created = created[order.index(single["job_id"])]["created_at"]
    # Burst jobs created after the single job was submitted but before it: at most one slot's worth.
    overtook = [p for p in created if single["created_at"] < p["created_at"] < single_created]
    assert len(overtook) <= 1, (single["created_at"], [(p["name"], p["created_at"]) for p in created])
    # FIFO within the burst.
    created_from_burst = [job_id for job_id in order if job_id in burst_ids]
    assert created_from_burst == burst_ids[: len(created_from_burst)]
    for job in burst:
        slots.wait_for(job["job_id"], {"completed"}, timeout=60)


def test_a_rate_limited_create_waits_and_is_retried(slots: StackHandle) -> None:
    slots.scenario(create_status=429)
    job = slots.post_job(VOICE).json()
    assert job["status"] == "waiting", job
    _eventually(lambda: slots.sim_stats()["creates"] >= 2, 20, "a retried create")
    slots.scenario(create_status=200, render_seconds=0.2)
    done = slots.wait_for(job["job_id"], {"completed", "failed"}, timeout=30)
    assert done["status"] == "completed", done
    mine = [p for p in _projects(slots) if ids.job_id_from_project_name(p["name"]) == job["job_id"]]
    assert len(mine) == 1


@pytest.mark.parametrize(
    ("create_status", "code"), [(429, "upstream_rate_limited"), (503, "upstream_unavailable")]
)
def test_a_create_refused_until_the_deadline_fails_the_job(
    slots: StackHandle, create_status: int, code: str
) -> None:
    slots.scenario(create_status=create_status)
    job = slots.post_job(VOICE).json()
    assert job["status"] == "waiting"
    failed = slots.wait_for(job["job_id"], {"failed", "completed"}, timeout=30)
    assert failed["status"] == "failed"
    assert failed["error"]["code"] == code
    assert failed["error"]["source"] == "submit"
    assert failed["project_id"] is None
    assert not [p for p in _projects(slots) if ids.job_id_from_project_name(p["name"]) == job["job_id"]]


def test_a_stale_slot_is_reclaimed_by_the_sweep(slots: StackHandle) -> None:
    from local.resources import client

    table = slots.stack.resolver.refs["ClientsTable"]
    dynamodb = client("dynamodb", slots.aws, "us-east-1")
    for index in range(LIMIT):  # every slot held by jobs that no longer exist
        dynamodb.put_item(
            TableName=table,
            Item={
                "client_id": {"S": "#pipeline"},
                "item": {"S": f"slot#{index:04d}"},
                "holder": {"S": ids.new_job_id()},
            },
        )
    stale = set(_holders(slots).values())
    job = slots.post_job(VOICE).json()
    # Without the sweep's reclaim the job would wait for ever (the stale holders never end).
    done = slots.wait_for(job["job_id"], {"completed"}, timeout=30)
    assert done["project_id"]
    # A sweep that ran while the stale holders were still being written reclaims the rest on its
    # next pass: every one of them goes, whichever pass finds it.
    _eventually(
        lambda: not stale & set(_holders(slots).values()), timeout=30, what="every stale slot reclaimed"
    )


def test_a_webhook_never_reopens_a_failed_job(slots: StackHandle) -> None:
    """A signed event naming a job that already failed (here: Magic Hour refused its create)
    leaves it failed, with its error; a completed project's files are kept apart."""
    slots.scenario(render_seconds=0.2)
    donor = slots.wait_for(slots.post_job(VOICE).json()["job_id"], {"completed"}, timeout=30)
    donor_downloads = requests.get(
        f"{slots.magic_hour}/v1/audio-projects/{donor['project_id']}",
        headers={"Authorization": f"Bearer {MAGIC_HOUR_KEY}"},
        timeout=5,
    ).json()["downloads"]
    slots.scenario(create_status=422)
    refused = slots.post_job(VOICE)
    assert refused.status_code == 422
    job_id = refused.json()["error"]["details"][0]["msg"]
    payload = {
        "id": "cm0late0project0000000000",
        "name": ids.project_name_for(job_id, "not ours"),
        "status": "complete",
        "credits_charged": 10,
        "downloads": donor_downloads[:1],
    }
    for event in ("audio.started", "audio.completed", "audio.errored"):
        delivered = requests.post(
            f"{slots.magic_hour}/_sim/webhooks", json={"type": event, "payload": payload}, timeout=10
        ).json()
        assert delivered["status_code"] == 200
    job = _eventually(
        lambda: (j := slots.get_job(job_id).json())["late_outputs"] and j, 30, "the late output stored"
    )
    assert job["status"] == "failed"
    assert job["error"]["code"] == "upstream_rejected"
    assert job["project_id"] is None
    assert job["outputs"] == []
    assert job["late_outputs"][0]["sha256"] == donor["outputs"][0]["sha256"]
    # A repeat of `completed` once the late output is stored queues nothing (the downloader would
    # skip a stored output, so only the wire shows it).
    batches = download_batches(slots)
    delivered = requests.post(
        f"{slots.magic_hour}/_sim/webhooks", json={"type": "audio.completed", "payload": payload}, timeout=10
    ).json()
    assert delivered["status_code"] == 200
    assert download_batches(slots) == batches
    stored = slots.get_job(job_id).json()["late_outputs"]
    assert [(o["s3_uri"], o["sha256"]) for o in stored] == [
        (o["s3_uri"], o["sha256"]) for o in job["late_outputs"]
    ]


@pytest.fixture(scope="module")
def unshared(tmp_path_factory: pytest.TempPathFactory) -> Iterator[StackHandle]:
    """A stack of its own: what earlier tests of a full run leave on the shared one (renders,
    other clients' waiting jobs) moved the plan's room this test counts on; it failed in full runs."""
    stack, handle = start_stack(tmp_path_factory, schedule_seconds=3600)
    try:
        yield handle
    finally:
        stack.stop()


def test_magic_hours_plan_limit_alone_makes_jobs_wait_not_fail(unshared: StackHandle) -> None:
    """No limit of ours (the shared stack): Magic Hour's 429s for its plan limit leave the jobs
    waiting, and the pipeline's retries get every one of them created."""
    stack = unshared
    # Projects of earlier tests on this stack may still be rendering: the plan has room for two more.
    busy = sum(p["status"] in ("queued", "rendering") for p in _projects(stack))
    plan = busy + 2
    stack.scenario(render_seconds=0.5, plan_concurrency=plan)
    before = stack.sim_stats()
    # (The simulator's max_active counts since its start, across tests: watched here instead.)
    with ActiveWatcher(stack) as watcher:
        jobs = _submit_all(stack, [("key-alpha", VOICE)] * 6)
        # Not asserted on the answers: earlier tests' renders counted in `busy` may end meanwhile,
        # leaving room for all six at once. Magic Hour's refusals below are what show the wait.
        for job in jobs:
            done = stack.wait_for(job["job_id"], {"completed", "failed"}, timeout=60)
            assert done["status"] == "completed", done
    after = stack.sim_stats()
    assert after["rejected_creates"] > before["rejected_creates"]
    assert watcher.most <= plan
    names = [p["name"] for p in _projects(stack)]
    for job in jobs:
        assert sum(ids.job_id_from_project_name(name) == job["job_id"] for name in names) == 1


@pytest.mark.parametrize("create_status", [501, 502, 504, 520, 524])
def test_a_gateway_error_after_magic_hour_committed_is_settled_without_a_second_create(
    stack: StackHandle, create_status: int
) -> None:
    stack.scenario(create_status=create_status, create_commits=True, render_seconds=0.3)
    before = stack.sim_stats()["creates"]
    key = f"gateway-{create_status}-{time.time_ns()}"
    first = stack.post_job(VOICE, **{"Idempotency-Key": key})
    assert first.status_code == 202, first.text
    job = first.json()
    assert job["status"] == "submitting"
    assert job["project_id"] is None
    replay = stack.post_job(VOICE, **{"Idempotency-Key": key})
    assert replay.json()["job_id"] == job["job_id"]
    done = stack.wait_for(job["job_id"], {"completed", "failed"}, timeout=30)
    assert done["status"] == "completed", done
    assert done["project_id"]
    assert stack.sim_stats()["creates"] - before == 1


@pytest.mark.parametrize("create_status", [501, 520, 524])
def test_an_unknown_answer_that_created_nothing_is_never_sent_again(
    stack: StackHandle, create_status: int
) -> None:
    """501, a CDN's 520 or 524: the origin may have made the project, so the job is `submitting`
    and is never created again, even though (here) nothing was made; it fails submit_unconfirmed
    only after the grace, from the sweep (this stack's sweep runs hourly)."""
    stack.scenario(create_status=create_status, render_seconds=0.3)
    before = stack.sim_stats()["creates"]
    key = f"unknown-{create_status}-{time.time_ns()}"
    first = stack.post_job(VOICE, **{"Idempotency-Key": key})
    assert first.status_code == 202, first.text
    assert (first.json()["status"], first.json()["project_id"]) == ("submitting", None)
    replay = stack.post_job(VOICE, **{"Idempotency-Key": key})
    assert (replay.status_code, replay.json()["job_id"]) == (202, first.json()["job_id"])
    assert replay.json()["status"] == "submitting"
    # The dispatcher's wake-ups never resend it: the create counter moved by exactly one.
    wait_drained(stack, "DispatchQueue")
    assert stack.sim_stats()["creates"] - before == 1
    assert stack.get_job(first.json()["job_id"]).json()["status"] == "submitting"
