"""Nothing stuck, and the caller hears back: the reconciliation sweep (on its own stack with a
one-second schedule) and client callbacks, through the local stack over HTTP."""

from __future__ import annotations

import json
import socket
import threading
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import requests
from boto3.dynamodb.types import TypeSerializer
from conftest import CALLBACK_SECRET as CALLBACK_MASTER
from conftest import StackHandle, start_stack
from standardwebhooks.webhooks import Webhook, WebhookVerificationError

from pipeline.models.job import Job, JobStatus
from pipeline.platform import ids
from pipeline.platform.timeutil import iso
from pipeline.store.job_items import to_item
from tests.observe import CallbackReceiver
from tests.polling import poll

VOICE = {"tool": "ai-voice-generator", "input": {"style": {"prompt": "hi", "voice_name": "Elon Musk"}}}
IMAGES = {"tool": "ai-image-generator", "input": {"image_count": 2, "style": {"prompt": "two owls"}}}
VIDEO = {"tool": "text-to-video", "input": {"end_seconds": 2, "style": {"prompt": "rain"}}}


@pytest.fixture(scope="module")
def sweeping(tmp_path_factory: pytest.TempPathFactory) -> Iterator[StackHandle]:
    # This stack also runs with the opt-in clean-up at Magic Hour switched on, and a short create
    # timeout so a slow Magic Hour can be shown in seconds.
    stack, handle = start_stack(
        tmp_path_factory,
        schedule_seconds=1,
        parameters={
            "DeleteProjectsAfterDownload": "true",
            "MagicHourReadTimeoutSeconds": "1",
            # Longer than the slow create below takes to produce its first webhook.
            "SweepSubmitGraceSeconds": "8",
        },
    )
    try:
        yield handle
    finally:
        stack.stop()


@pytest.fixture
def swept(sweeping: StackHandle) -> Iterator[StackHandle]:
    requests.delete(f"{sweeping.magic_hour}/_sim/scenario", timeout=5).raise_for_status()
    yield sweeping
    requests.delete(f"{sweeping.magic_hour}/_sim/scenario", timeout=5)


def _put_job(stack: StackHandle, job: Job) -> None:
    serializer = TypeSerializer()
    # A job still in progress is due for the sweep now, whatever this process's settings say.
    item = to_item(job, None if job.status.is_terminal else int(time.time()))
    item = {key: serializer.serialize(value) for key, value in item.items()}
    from local.resources import client

    client("dynamodb", stack.aws, "us-east-1").put_item(
        TableName=stack.stack.resolver.refs["JobsTable"], Item=item
    )


def _orphan(stack: StackHandle, label: str) -> tuple[str, str]:
    """A job left `submitting` with no project id, as a crash between submit's two writes leaves
    it: (job id, the Magic Hour project name that carries it)."""
    job_id = ids.new_job_id()
    now = iso(datetime.now(UTC))
    name = ids.project_name_for(job_id, label)
    _put_job(
        stack,
        Job(
            job_id=job_id,
            client_id="client-alpha",
            tool="ai-voice-generator",
            kind="audio",
            status=JobStatus.SUBMITTING,
            created_at=now,
            updated_at=now,
            magic_hour_name=name,
        ),
    )
    return job_id, name


def _create_at_magic_hour(stack: StackHandle, tool: str, body: dict[str, Any]) -> dict[str, Any]:
    answer = requests.post(
        f"{stack.magic_hour}/v1/{tool}",
        json=body,
        timeout=5,
        headers={"Authorization": f"Bearer {stack.stack.config.magic_hour_api_key}"},
    )
    answer.raise_for_status()
    return dict(answer.json())


# -- the sweep ----------------------------------------------------------------------------------


def test_jobs_complete_through_the_sweep_when_no_webhook_ever_comes(swept) -> None:
    swept.scenario(webhook_send=False, render_seconds=0.3)
    job_ids = [swept.post_job(body).json()["job_id"] for body in (VIDEO, IMAGES, VOICE)]
    for job_id in job_ids:
        job = swept.wait_for(job_id, {"completed", "failed", "canceled"}, timeout=30)
        assert job["status"] == "completed", job
        served = {o["index"]: o["sha256"] for o in swept.sim_project(job["project_id"])["outputs"]}
        assert {o["index"]: o["sha256"] for o in job["outputs"]} == served
    assert swept.sim_stats()["webhook_attempts"] == 0


def test_a_canceled_project_ends_the_job_canceled(swept) -> None:
    swept.scenario(outcome="canceled", render_seconds=0.3)  # Magic Hour sends no event for this
    job = swept.wait_for(
        swept.post_job(VOICE).json()["job_id"], {"completed", "failed", "canceled"}, timeout=30
    )
    assert job["status"] == "canceled"
    assert job["outputs"] == []


def test_an_orphaned_submitting_job_with_no_project_fails_without_a_second_submit(swept) -> None:
    """Our first write happened, the create never reached Magic Hour, and no webhook names the
    job: after the grace period it fails with source `submit`, and Magic Hour is never called."""
    creates = swept.sim_stats()["creates"]
    job_id, _ = _orphan(swept, "lost")
    job = swept.wait_for(job_id, {"failed", "completed"}, timeout=30)
    assert job["status"] == "failed"
    assert job["error"]["source"] == "submit"
    assert job["error"]["code"] == "submit_unconfirmed"
    assert swept.sim_stats()["creates"] == creates


def test_an_orphaned_submitting_job_whose_project_exists_is_attached(swept) -> None:
    job_id, name = _orphan(swept, "found")
    project = _create_at_magic_hour(swept, "ai-voice-generator", {"name": name, **VOICE["input"]})
    job = swept.wait_for(job_id, {"failed", "completed"}, timeout=30)
    assert job["status"] == "completed"
    assert job["project_id"] == project["id"]


def test_a_project_that_shows_up_after_the_grace_period_keeps_the_job_failed(swept) -> None:
    """The sweep failed the job (`submit_unconfirmed`), then Magic Hour's webhook for the project
    it did create arrives: the failure stands (a terminal status is final, and the client may
    have acted on it), but the paid-for outputs are stored, listed apart."""
    job_id, name = _orphan(swept, "late")
    assert swept.wait_for(job_id, {"failed"}, timeout=30)["error"]["code"] == "submit_unconfirmed"
    project = _create_at_magic_hour(swept, "ai-voice-generator", {"name": name, **VOICE["input"]})
    job = poll(
        lambda: swept.get_job(job_id).json(),
        30,
        "the late project's outputs",
        until=lambda job: job["late_outputs"],
        interval=0.2,
    )
    assert job["status"] == "failed"
    assert job["error"]["code"] == "submit_unconfirmed"
    assert job["project_id"] is None
    assert job["outputs"] == []
    served = {o["index"]: o["sha256"] for o in swept.sim_project(project["id"])["outputs"]}
    assert {o["index"]: o["sha256"] for o in job["late_outputs"]} == served


def test_a_downloading_job_whose_messages_vanished_gets_them_queued_again(swept) -> None:
    swept.scenario(render_seconds=0.1, webhook_send=False, outputs=2)
    job_id = ids.new_job_id()
    project = _create_at_magic_hour(
        swept, "text-to-video", {"name": ids.project_name_for(job_id, "x"), **VIDEO["input"]}
    )
    poll(
        lambda: swept.sim_project(project["id"])["status"],
        10,
        "the project's end at the simulator",
        until=lambda status: status == "complete",
        interval=0.05,
    )
    quiet_since = iso(datetime.now(UTC) - timedelta(seconds=30))
    _put_job(
        swept,
        Job(
            job_id=job_id,
            client_id="client-alpha",
            tool="text-to-video",
            kind="video",
            status=JobStatus.DOWNLOADING,
            project_id=project["id"],
            created_at=quiet_since,
            updated_at=quiet_since,
            output_count=2,
            downloads_queued=True,
        ),
    )
    job = swept.wait_for(job_id, {"failed", "completed"}, timeout=30)
    assert job["status"] == "completed"
    assert len(job["outputs"]) == 2


def test_a_create_that_times_out_is_settled_without_a_second_project(swept) -> None:
    """Magic Hour takes longer than our timeout but does create the project: the caller gets a
    202 with the job `submitting`, its retry with the same key gets that job (no second create),
    and the project's first webhook, whose name carries the job id, settles it."""
    swept.scenario(create_delay_seconds=2.5, render_seconds=0.5)
    key = f"slow-{time.time_ns()}"
    creates = swept.sim_stats()["creates"]
    first = swept.post_job(VOICE, **{"Idempotency-Key": key})
    assert first.status_code == 202, first.text
    assert first.json()["status"] == "submitting"
    assert first.json()["project_id"] is None
    job_id = first.json()["job_id"]
    retry = swept.post_job(VOICE, **{"Idempotency-Key": key})
    assert retry.status_code == 202, retry.text
    assert retry.json()["job_id"] == job_id
    assert retry.json()["status"] in ("submitting", "queued", "rendering", "downloading", "completed")
    job = swept.wait_for(job_id, {"completed", "failed"}, timeout=30)
    assert job["status"] == "completed", job
    assert swept.sim_stats()["creates"] - creates == 1


def test_opt_in_deletes_the_project_at_magic_hour_once_outputs_are_stored(swept, local_stack) -> None:
    job = swept.wait_for(swept.post_job(IMAGES).json()["job_id"], {"completed", "failed"}, timeout=30)
    assert job["status"] == "completed"
    assert len(job["outputs"]) == 2
    # The delete follows the job's completion (same invocation, just after it).
    poll(lambda: swept.sim_project(job["project_id"])["deleted"], 10, "the project's delete")
    assert swept.sim_project(job["project_id"])["deleted"] is True
    # The default (off) keeps the project.
    kept = local_stack.wait_for(local_stack.post_job(VOICE).json()["job_id"], {"completed"})
    assert local_stack.sim_project(kept["project_id"])["deleted"] is False


# -- client callbacks ---------------------------------------------------------------------------


class Receiver(CallbackReceiver):
    """A client's callback endpoint that fails its first `failures` deliveries."""

    def __init__(self, failures: int) -> None:
        super().__init__("/hooks/magic", refuses=lambda count: count < failures)


@pytest.fixture
def receiver_factory() -> Iterator[Any]:
    made: list[Receiver] = []

    def make(failures: int) -> Receiver:
        made.append(Receiver(failures))
        return made[-1]

    yield make
    for receiver in made:
        receiver.server.shutdown()


def _wait_callback(
    stack: StackHandle,
    job_id: str,
    states: set[str],
    key: str = "key-alpha",
    timeout: float = 30,
    attempts: int = 0,
) -> dict[str, Any]:
    def reached(job: dict[str, Any]) -> bool:
        callback = job.get("callback") or {}
        return callback.get("state") in states and callback.get("attempts", 0) >= attempts

    job: dict[str, Any] = poll(
        lambda: stack.get_job(job_id, key).json(), timeout, f"callback of {job_id} in {states}", until=reached
    )
    return dict(job)


def _callback_secret(stack: StackHandle, key: str) -> str:
    answer = requests.get(f"{stack.api}/v1/callback-secret", headers=stack.headers(key), timeout=10)
    assert answer.status_code == 200, answer.text
    return str(answer.json()["secret"])


def test_callback_retried_until_accepted_once_and_signed(stack, receiver_factory) -> None:
    receiver = receiver_factory(failures=2)
    job_id = stack.post_job({**VOICE, "callback_url": receiver.url}).json()["job_id"]
    job = _wait_callback(stack, job_id, {"delivered", "failed"})
    assert job["callback"]["state"] == "delivered"
    assert job["callback"]["attempts"] == 3
    assert [status for status, _, _ in receiver.deliveries] == [500, 500, 204]
    accepted = receiver.accepted()
    assert len(accepted) == 1
    _, headers, body = accepted[0]
    lowered = {k.lower(): v for k, v in headers.items()}
    Webhook(_callback_secret(stack, "key-alpha")).verify(body, lowered)  # raises if the signature is wrong
    assert {h["Webhook-Id"] if "Webhook-Id" in h else h["webhook-id"] for _, h, _ in receiver.deliveries} == {
        lowered["webhook-id"]
    }
    resource = json.loads(body)
    assert resource["job_id"] == job_id
    assert resource["status"] == "completed"
    assert resource["outputs"]


def test_callback_that_always_fails_ends_failed_and_leaves_the_job_alone(stack, receiver_factory) -> None:
    receiver = receiver_factory(failures=1000)
    job_id = stack.post_job({**VOICE, "callback_url": receiver.url}).json()["job_id"]
    job = _wait_callback(stack, job_id, {"delivered", "failed"})
    assert job["callback"]["state"] == "failed"
    assert job["callback"]["attempts"] == 4  # the first try and one per configured delay (1,1,1)
    assert "500" in job["callback"]["last_error"]
    assert job["status"] == "completed"
    assert len(receiver.deliveries) == 4


def test_failed_jobs_call_back_too(stack, receiver_factory) -> None:
    receiver = receiver_factory(failures=0)
    stack.scenario(create_status=422)
    answer = stack.post_job({**VOICE, "callback_url": receiver.url})
    assert answer.status_code == 422
    ((_, _, body),) = poll(receiver.accepted, 15, "the failed job's callback")
    assert json.loads(body)["status"] == "failed"
    assert json.loads(body)["error"]["code"] == "upstream_rejected"


def test_jobs_without_a_callback_show_none(stack) -> None:
    job = stack.wait_for(stack.post_job(VOICE).json()["job_id"], {"completed"})
    assert job["callback"] is None


def _sweep_index_keys(stack: StackHandle, aws: Any, job_id: str) -> set[str]:
    """What of the job's item puts it in the sweep's index (nothing: the sweep never looks again)."""
    item = aws("dynamodb").get_item(
        TableName=stack.stack.resolver.refs["JobsTable"], Key={"job_id": {"S": job_id}}, ConsistentRead=True
    )["Item"]
    return {"active", "next_check_at"} & set(item)


def test_the_sweep_watches_a_job_until_nothing_about_it_can_change(stack, aws, receiver_factory) -> None:
    """In progress: watched. Ended without a callback: out of the index in the write that ended it.
    Ended with one: watched while the callback is owed, out of the index once it settles."""
    stack.scenario(render_seconds=2)  # long enough to look at the job while it renders
    plain = stack.post_job(VOICE).json()["job_id"]
    keys_in_progress = _sweep_index_keys(stack, aws, plain)
    assert stack.get_job(plain).json()["status"] in {"queued", "rendering"}  # read after the item
    assert keys_in_progress == {"active", "next_check_at"}
    stack.wait_for(plain, {"completed"})
    assert _sweep_index_keys(stack, aws, plain) == set()

    stack.scenario(render_seconds=0.3)
    receiver = receiver_factory(failures=1000)  # every attempt fails: owed for several retries
    called_back = stack.post_job({**VOICE, "callback_url": receiver.url}).json()["job_id"]
    stack.wait_for(called_back, {"completed"})
    keys_while_owed = _sweep_index_keys(stack, aws, called_back)
    assert stack.get_job(called_back).json()["callback"]["state"] == "pending"  # read after the item
    assert keys_while_owed == {"active", "next_check_at"}
    _wait_callback(stack, called_back, {"failed"})
    assert _sweep_index_keys(stack, aws, called_back) == set()


# -- each client's own callback secret ----------------------------------------------------------


def _rotate(stack: StackHandle, key: str) -> str:
    answer = requests.post(f"{stack.api}/v1/callback-secret/rotate", headers=stack.headers(key), timeout=10)
    assert answer.status_code == 200, answer.text
    return str(answer.json()["secret"])


def _verifies(secret: str, delivery: tuple[int, dict[str, str], bytes]) -> bool:
    _, headers, body = delivery
    try:
        Webhook(secret).verify(body, {k.lower(): v for k, v in headers.items()})
    except WebhookVerificationError:
        return False
    return True


def test_callback_secret_routes_need_a_key_and_answer_each_client_its_own(stack) -> None:
    for method, path in (("GET", "/v1/callback-secret"), ("POST", "/v1/callback-secret/rotate")):
        answer = requests.request(method, f"{stack.api}{path}", timeout=10)
        assert answer.status_code == 401
        assert answer.json()["error"]["code"] == "unauthorized"
    alpha = _callback_secret(stack, "key-alpha")
    assert alpha.startswith("whsec_")
    assert _callback_secret(stack, "key-alpha") == alpha  # stable until rotated
    assert _callback_secret(stack, "key-beta") != alpha
    assert alpha != CALLBACK_MASTER  # the master itself is never handed out


def test_a_clients_callback_verifies_with_its_secret_only(stack, receiver_factory) -> None:
    receiver = receiver_factory(failures=0)
    job_id = stack.post_job({**VOICE, "callback_url": receiver.url}, key="key-beta").json()["job_id"]
    _wait_callback(stack, job_id, {"delivered", "failed"}, key="key-beta")
    (delivery,) = receiver.accepted()
    assert _verifies(_callback_secret(stack, "key-beta"), delivery)
    assert not _verifies(_callback_secret(stack, "key-alpha"), delivery)
    assert not _verifies(_callback_secret(stack, "key-gamma"), delivery)
    assert not _verifies(CALLBACK_MASTER, delivery)


def test_after_a_rotation_callbacks_carry_the_old_and_the_new_signature(stack, receiver_factory) -> None:
    old = _callback_secret(stack, "key-gamma")
    new = _rotate(stack, "key-gamma")
    assert new != old
    assert _callback_secret(stack, "key-gamma") == new
    receiver = receiver_factory(failures=0)
    job_id = stack.post_job({**VOICE, "callback_url": receiver.url}, key="key-gamma").json()["job_id"]
    _wait_callback(stack, job_id, {"delivered", "failed"}, key="key-gamma")
    (delivery,) = receiver.accepted()
    signatures = {k.lower(): v for k, v in delivery[1].items()}["webhook-signature"].split(" ")
    assert len(signatures) == 2
    assert _verifies(old, delivery)
    assert _verifies(new, delivery)
    assert not _verifies(_callback_secret(stack, "key-alpha"), delivery)


def test_concurrent_rotations_each_get_their_own_new_secret(stack) -> None:
    with ThreadPoolExecutor(max_workers=4) as pool:
        secrets = list(pool.map(lambda _: _rotate(stack, "key-gamma"), range(4)))
    assert len(set(secrets)) == 4
    assert _callback_secret(stack, "key-gamma") in secrets


# -- a hostile receiver costs one bounded attempt and delays nobody else ------------------------


class HostileReceiver:
    """Answers every callback by trickling one byte every `pace` seconds, for ever."""

    def __init__(self, pace: float) -> None:
        self.pace = pace
        self.connections = 0
        self.stopped = threading.Event()
        self.server = socket.socket()
        self.server.bind(("127.0.0.1", 0))
        self.server.listen(8)
        self.url = f"http://127.0.0.1:{self.server.getsockname()[1]}/hooks/slow"
        threading.Thread(target=self._serve, daemon=True).start()

    def _serve(self) -> None:
        while not self.stopped.is_set():
            try:
                connection, _ = self.server.accept()
            except OSError:
                return
            self.connections += 1
            threading.Thread(target=self._trickle, args=(connection,), daemon=True).start()

    def _trickle(self, connection: socket.socket) -> None:
        with connection:
            try:
                while not self.stopped.wait(self.pace):
                    connection.sendall(b"H")
            except OSError:
                return

    def stop(self) -> None:
        self.stopped.set()
        self.server.close()


def test_a_trickling_receiver_gets_bounded_attempts_and_delays_no_other_client(
    stack, receiver_factory
) -> None:
    hostile = HostileReceiver(pace=2.0)
    try:
        slow_job = stack.post_job({**VOICE, "callback_url": hostile.url}, key="key-beta").json()["job_id"]
        stack.wait_for(slow_job, {"completed"}, key="key-beta")
        # Its attempt is under way now.
        poll(lambda: hostile.connections, 10, "the hostile receiver's connection", interval=0.05)
        # Another client's callback, queued while the hostile attempt holds a worker.
        receiver = receiver_factory(failures=0)
        job_id = stack.post_job({**VOICE, "callback_url": receiver.url}).json()["job_id"]
        completed = stack.wait_for(job_id, {"completed"})
        assert completed["callback"]["state"] in {"pending", "delivered"}
        delivered_by = time.monotonic() + 4.0  # well inside one hostile attempt (5 s)
        _wait_callback(stack, job_id, {"delivered"}, timeout=6)
        assert time.monotonic() < delivered_by
        # The hostile receiver's attempt ended at the deadline and was counted.
        slow = _wait_callback(stack, slow_job, {"pending", "failed"}, key="key-beta", attempts=1)
        assert slow["callback"]["attempts"] >= 1
        # The same text as any other failure without an HTTP status: no timing, no address.
        assert slow["callback"]["last_error"] == "no HTTP answer"
    finally:
        hostile.stop()


def test_the_sweep_publishes_the_account_balance_with_its_tier(swept) -> None:
    # The first sweep of this stack read the simulator's default account (1000000, business);
    # later ones within a minute publish nothing more (at most once a minute per environment).
    def balance_records() -> list[dict]:
        text = Path(swept.stack.function_log).read_text(errors="replace")
        return [
            json.loads(line[line.find('{"_aws"') :])
            for line in text.split("\n")  # not splitlines: U+2028 may sit inside a logged string
            if '{"_aws"' in line and '"MagicHourCredits"' in line
        ]

    records = poll(balance_records, 20, "a MagicHourCredits record in the function log", interval=0.2)
    # Other tests of this stack may have spent credits before that first sweep: the figure lies
    # between the default balance and what is left now (charges only lower it).
    published = records[0]["MagicHourCredits"]
    published = published[0] if isinstance(published, list) else published  # EMF may list values
    projects = requests.get(f"{swept.magic_hour}/_sim/projects", timeout=10).json()
    projects = projects.get("projects", projects) if isinstance(projects, dict) else projects
    spent = sum(int(project.get("credits_charged") or 0) for project in projects)
    assert 1_000_000 - spent <= published <= 1_000_000
    assert records[0]["tier"] == "business"
    assert len(records) <= 2  # the first minute or so of sweeps every second: one read, not dozens
