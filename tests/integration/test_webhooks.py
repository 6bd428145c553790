"""The webhook receiver through the local stack over HTTP: authentic, idempotent, order-proof.

Each test switches the simulator's own webhooks off, lets the project finish, and then delivers
the events it wants (in the order and number it wants) through the simulator's signed
`POST /_sim/webhooks`, exactly as Magic Hour would send them.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from typing import Any

import pytest
import requests
from conftest import StackHandle, own_stack

from pipeline.platform import ids
from pipeline.webhook.signature import sign
from tests.observe import download_batches, wait_drained
from tests.polling import poll

JOBS = {
    "video": {"tool": "text-to-video", "input": {"end_seconds": 2, "style": {"prompt": "waves"}}},
    "image": {"tool": "ai-image-generator", "input": {"image_count": 3, "style": {"prompt": "a fox"}}},
    "audio": {"tool": "ai-voice-generator", "input": {"style": {"prompt": "hi", "voice_name": "Elon Musk"}}},
}


def quiet_job(stack, kind: str, outcome: str = "complete") -> tuple[dict[str, Any], dict[str, Any]]:
    """A job whose project finished at the simulator without telling us: (job, project as Magic
    Hour's GET returns it)."""
    stack.scenario(webhook_send=False, render_seconds=0.1, outcome=outcome)
    job = stack.post_job(JOBS[kind]).json()
    assert job["status"] == "queued", job
    poll(
        lambda: stack.sim_project(job["project_id"])["status"],
        10,
        "the project's end at the simulator",
        until=lambda status: status in ("complete", "error", "canceled"),
        interval=0.05,
    )
    project = requests.get(
        f"{stack.magic_hour}/v1/{kind}-projects/{job['project_id']}",
        headers={"Authorization": f"Bearer {stack.stack.config.magic_hour_api_key}"},
        timeout=5,
    ).json()
    return job, project


def deliver(stack, event_type: str, payload: dict[str, Any]) -> int:
    answer = requests.post(
        f"{stack.magic_hour}/_sim/webhooks", json={"type": event_type, "payload": payload}, timeout=30
    )
    answer.raise_for_status()
    return int(answer.json()["status_code"])


def downloads(stack) -> int:
    return stack.sim_stats()["downloads"]


@pytest.mark.parametrize("kind", ["video", "image", "audio"])
def test_started_then_completed_ends_completed(stack, kind) -> None:
    job, project = quiet_job(stack, kind)
    assert deliver(stack, f"{kind}.started", {**project, "status": "rendering", "downloads": []}) == 200
    assert stack.get_job(job["job_id"]).json()["status"] == "rendering"
    assert deliver(stack, f"{kind}.completed", project) == 200
    done = stack.wait_for(job["job_id"], {"completed", "failed"})
    assert done["status"] == "completed"
    assert len(done["outputs"]) == len(project["downloads"])


@pytest.mark.parametrize("kind", ["video", "image", "audio"])
def test_errored_fails_the_job_with_magic_hours_error(stack, kind) -> None:
    job, project = quiet_job(stack, kind, outcome="error")
    error = {"code": "no_source_face", "message": "No face found in the source image"}
    assert deliver(stack, f"{kind}.errored", {**project, "status": "error", "error": error}) == 200
    failed = stack.get_job(job["job_id"]).json()
    assert failed["status"] == "failed"
    assert failed["error"] == {**error, "source": "magic_hour"}
    # A late `started` does not bring it back.
    assert deliver(stack, f"{kind}.started", {**project, "status": "rendering"}) == 200
    assert stack.get_job(job["job_id"]).json()["status"] == "failed"


def test_completed_before_started_works_and_started_changes_nothing(stack) -> None:
    job, project = quiet_job(stack, "video")
    assert deliver(stack, "video.completed", project) == 200
    assert stack.wait_for(job["job_id"], {"completed"})["status"] == "completed"
    before = stack.get_job(job["job_id"]).json()
    assert deliver(stack, "video.started", {**project, "status": "rendering"}) == 200
    after = stack.get_job(job["job_id"]).json()
    assert after["status"] == "completed"
    assert after["updated_at"] == before["updated_at"]


def test_ten_concurrent_duplicates_queue_one_download_per_output(stack) -> None:
    job, project = quiet_job(stack, "image")
    assert len(project["downloads"]) == 3
    batches_before = stack.stack.faults.calls.get("SendMessageBatch", 0)
    statuses: list[int] = []
    barrier = threading.Barrier(10)

    def send() -> None:
        barrier.wait()
        statuses.append(deliver(stack, "image.completed", project))

    threads = [threading.Thread(target=send) for _ in range(10)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert statuses == [200] * 10
    done = stack.wait_for(job["job_id"], {"completed", "failed"})
    assert done["status"] == "completed"
    assert len(done["outputs"]) == 3
    # One batch of three messages reached SQS: counted on the wire, not inferred from downloads
    # (a download retried after a transient error would be a second download, not a second message).
    assert stack.stack.faults.calls.get("SendMessageBatch", 0) - batches_before == 1


def deliver_signed(stack, event_type: str, payload: dict[str, Any]) -> requests.Response:
    """Straight to our webhook route, signed as Magic Hour signs, to read our answer's outcome."""
    body = json.dumps({"type": event_type, "payload": payload}).encode()
    timestamp = str(int(time.time()))
    return requests.post(
        f"{stack.api}/webhooks/magic-hour",
        data=body,
        timeout=30,
        headers={
            "Content-Type": "application/json",
            "magic-hour-event-timestamp": timestamp,
            "magic-hour-event-signature": sign(stack.webhook_secret, timestamp, body),
        },
    )


def test_duplicate_delivery_later_changes_nothing(stack) -> None:
    job, project = quiet_job(stack, "audio")
    assert deliver(stack, "audio.completed", project) == 200
    done = stack.wait_for(job["job_id"], {"completed"})
    wait_drained(stack)
    batches, before = download_batches(stack), downloads(stack)
    answer = deliver_signed(stack, "audio.completed", project)
    assert answer.status_code == 200, answer.text
    assert answer.json()["outcome"] == "already_applied"
    # Downloads are queued before the webhook answers: none reached SQS, and none ran.
    assert download_batches(stack) == batches
    wait_drained(stack)
    assert downloads(stack) == before
    assert stack.get_job(job["job_id"]).json()["updated_at"] == done["updated_at"]


def test_unknown_project_is_acknowledged_and_writes_nothing(stack) -> None:
    # A project made outside the pipeline, with real download URLs: a download queued for it
    # would be fetched and counted.
    stack.scenario(webhook_send=False, render_seconds=0.1)
    auth = {"Authorization": f"Bearer {stack.stack.config.magic_hour_api_key}"}
    created = requests.post(
        f"{stack.magic_hour}/v1/text-to-video",
        json={"name": "made in the web app", **JOBS["video"]["input"]},
        headers=auth,
        timeout=5,
    ).json()
    poll(
        lambda: stack.sim_project(created["id"])["status"],
        10,
        "the project's end at the simulator",
        until=lambda status: status == "complete",
        interval=0.05,
    )
    payload = requests.get(
        f"{stack.magic_hour}/v1/video-projects/{created['id']}", headers=auth, timeout=5
    ).json()
    assert payload["downloads"]
    wait_drained(stack)
    batches, before = download_batches(stack), downloads(stack)
    answer = deliver_signed(stack, "video.completed", payload)
    assert answer.status_code == 200, answer.text
    assert answer.json()["outcome"] == "unknown_project"
    assert download_batches(stack) == batches
    wait_drained(stack)
    assert downloads(stack) == before


def test_project_name_attaches_an_orphaned_submitting_job(stack, aws) -> None:
    """Submit wrote the job, Magic Hour created the project, and our write of its id never happened
    (a crash or a timeout): the first webhook adopts the project by the job id in its name."""
    from pipeline.models.job import Job, JobStatus
    from pipeline.store.job_items import to_item

    job_id = ids.new_job_id()
    name = ids.project_name_for(job_id, "orphan")
    orphan = Job(
        job_id=job_id,
        client_id="client-alpha",
        tool="ai-voice-generator",
        kind="audio",
        status=JobStatus.SUBMITTING,
        created_at="2026-11-23T00:00:00.000Z",
        updated_at="2026-11-23T00:00:00.000Z",
        magic_hour_name=name,
    )
    table = stack.stack.resolver.refs["JobsTable"]
    aws("dynamodb").put_item(TableName=table, Item=_dynamo(to_item(orphan)))
    assert stack.get_job(job_id).json()["status"] == "submitting"

    stack.scenario(render_seconds=0.3)  # the simulator's own webhooks do the rest
    created = requests.post(
        f"{stack.magic_hour}/v1/ai-voice-generator",
        json={"name": name, "style": {"prompt": "hi", "voice_name": "Elon Musk"}},
        headers={"Authorization": f"Bearer {stack.stack.config.magic_hour_api_key}"},
        timeout=5,
    ).json()
    done = stack.wait_for(job_id, {"completed", "failed"})
    assert done["status"] == "completed"
    assert done["project_id"] == created["id"]


def test_base64_encoded_body_verifies_on_the_exact_bytes(stack) -> None:
    job, project = quiet_job(stack, "video")
    body = json.dumps({"type": "video.completed", "payload": project}, separators=(",", ":")).encode()
    timestamp = str(int(time.time()))
    # application/octet-stream makes the gateway hand the body over base64-encoded.
    answer = requests.post(
        f"{stack.api}/webhooks/magic-hour",
        data=body,
        timeout=10,
        headers={
            "Content-Type": "application/octet-stream",
            "magic-hour-event-timestamp": timestamp,
            "magic-hour-event-signature": sign(stack.webhook_secret, timestamp, body),
        },
    )
    assert answer.status_code == 200, answer.text
    assert stack.wait_for(job["job_id"], {"completed"})["status"] == "completed"


def _dynamo(item: dict[str, Any]) -> dict[str, Any]:
    from boto3.dynamodb.types import TypeSerializer

    serializer = TypeSerializer()
    return {key: serializer.serialize(value) for key, value in item.items()}


@pytest.fixture(scope="module")
def unshared(tmp_path_factory: pytest.TempPathFactory) -> Iterator[StackHandle]:
    # Faults of a whole operation ("every UpdateItem after the first") hit whichever function calls
    # it: on the shared stack other tests' leftover work calls it too (a full run once saw this
    # delivery answered 200 under the fault), so this test counts only its own calls.
    with own_stack(tmp_path_factory) as handle:
        yield handle


# Where the first delivery dies. The job's move to `downloading` is one transaction (it gives its
# Magic Hour slot back in the same write); recording that the downloads were queued is an
# UpdateItem after the SendMessageBatch.
@pytest.mark.parametrize(
    ("operations", "moved"),
    [
        # DynamoDB down before the job moves: nothing changed, the retry does it all.
        (("TransactWriteItems", "UpdateItem"), False),
        # The job moved, then SQS failed: the retry queues the downloads.
        (("SendMessageBatch",), True),
        # Downloads queued, then recording that failed: nothing is queued twice.
        (("UpdateItem",), True),
    ],
    ids=["before-the-move", "queueing", "recording"],
)
def test_failure_midway_then_magic_hours_retry_loses_nothing(
    unshared: StackHandle, operations: tuple[str, ...], moved: bool
) -> None:
    stack = unshared
    job, project = quiet_job(stack, "image")
    before = downloads(stack)
    sent_before = stack.stack.faults.state()["calls"].get("SendMessageBatch", 0)
    # The dependency is down for the whole first delivery (boto3's own retries included)...
    for operation in operations:
        stack.stack.faults.inject(operation, count=1000)
    assert deliver(stack, "image.completed", project) == 503
    # ...and it died exactly where this case says (a change to the writes' shape shows here).
    status = stack.get_job(job["job_id"]).json()["status"]
    assert status == ("downloading" if moved else "queued")
    sent = stack.stack.faults.state()["calls"].get("SendMessageBatch", 0) - sent_before
    assert (sent > 0) is moved
    # ...and back for Magic Hour's retry of the same delivery.
    stack.stack.faults.clear()
    assert deliver(stack, "image.completed", project) == 200
    done = stack.wait_for(job["job_id"], {"completed", "failed"})
    assert done["status"] == "completed"
    assert len(done["outputs"]) == 3
    # Nothing queued twice: once the queue drained, exactly one download per output ran.
    wait_drained(stack)
    assert downloads(stack) - before == 3
