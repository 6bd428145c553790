"""Webhook delivery: signing, payloads, and every webhook_* scenario field."""

from __future__ import annotations

import hmac
import itertools
import json
import re
import time
from typing import Any

import requests

from local.simulator import webhook_signature
from tests.polling import poll

from .helpers import AUDIO_BODY, FACE_SWAP_BODY, IMAGE_BODY, WEBHOOK_SECRET, Delivery, Receiver, SimClient


def verifies(delivery: Delivery, secret: str = WEBHOOK_SECRET) -> bool:
    timestamp = delivery.headers["magic-hour-event-timestamp"]
    expected = webhook_signature(secret, timestamp, delivery.body)
    return hmac.compare_digest(expected, delivery.headers["magic-hour-event-signature"])


def test_delivery_is_signed_compact_and_carries_the_project(sim: SimClient, receiver: Receiver) -> None:
    project_id = sim.create("face-swap", FACE_SWAP_BODY)
    started, completed = receiver.wait_for(2)
    for delivery in (started, completed):
        assert verifies(delivery)
        assert re.match(r"^[0-9a-f]{64}$", delivery.headers["magic-hour-event-signature"])
        assert abs(int(delivery.headers["magic-hour-event-timestamp"]) - time.time()) < 5
        assert delivery.headers["content-type"] == "application/json"
        assert json.dumps(delivery.json, separators=(",", ":")).encode() == delivery.body
        assert set(delivery.json) == {"type", "payload"}
        assert delivery.json["payload"]["id"] == project_id
    assert started.json["payload"]["status"] == "rendering"
    assert started.json["payload"]["downloads"] == []
    payload = completed.json["payload"]
    assert payload["status"] == "complete"
    got = sim.get("video", project_id).json()
    # The same object as GET, except that download URLs are freshly signed each time.
    assert set(payload) == set(got)
    for key in set(got) - {"downloads", "download"}:
        assert payload[key] == got[key], key
    download = requests.get(payload["downloads"][0]["url"], timeout=10)
    assert download.status_code == 200


def test_image_and_audio_events(sim: SimClient, receiver: Receiver) -> None:
    sim.create("ai-image-generator", IMAGE_BODY)
    types = sorted(d.type for d in receiver.wait_for(2))
    assert types == ["image.completed", "image.started"]
    sim.create("ai-voice-generator", AUDIO_BODY)
    types = sorted(d.type for d in receiver.wait_for(4)[2:])
    assert types == ["audio.completed", "audio.started"]


def test_webhook_send_false(sim: SimClient, receiver: Receiver) -> None:
    sim.scenario(webhook_send=False)
    project_id = sim.create("face-swap", FACE_SWAP_BODY)
    assert sim.wait_status("video", project_id)["status"] == "complete"
    assert receiver.quiet_for(0.4) == []
    assert sim.stats()["webhook_attempts"] == 0


def test_webhook_started_false(sim: SimClient, receiver: Receiver) -> None:
    sim.scenario(webhook_started=False)
    sim.create("face-swap", FACE_SWAP_BODY)
    receiver.wait_for(1)
    assert [d.type for d in receiver.quiet_for(0.4)] == ["video.completed"]


def test_image_started_skip_ratio_skips_it_for_image_projects_only(
    sim: SimClient, receiver: Receiver
) -> None:
    sim.scenario(image_started_skip_ratio=1.0, render_seconds=0.2)
    sim.create("ai-image-generator", IMAGE_BODY)
    receiver.wait_for(1)
    assert [d.type for d in receiver.quiet_for(0.4)] == ["image.completed"]
    sim.create("ai-voice-generator", AUDIO_BODY)  # other kinds still announce their start
    assert sorted(d.type for d in receiver.wait_for(3)[1:]) == ["audio.completed", "audio.started"]


def test_webhook_duplicates(sim: SimClient, receiver: Receiver) -> None:
    sim.scenario(webhook_duplicates=2)
    sim.create("face-swap", FACE_SWAP_BODY)
    deliveries = receiver.wait_for(6)
    deliveries = receiver.quiet_for(0.3)
    types = [d.type for d in deliveries]
    assert types.count("video.started") == 3
    assert types.count("video.completed") == 3
    completed = [d for d in deliveries if d.type == "video.completed"]
    assert all(verifies(d) for d in deliveries)
    assert len({d.body for d in completed}) == 1  # copies of one event, not new events
    assert sim.stats()["webhook_attempts"] == 6


def test_webhook_reverse_order(sim: SimClient, receiver: Receiver) -> None:
    sim.scenario(webhook_reverse_order=True)
    sim.create("face-swap", FACE_SWAP_BODY)
    deliveries = receiver.wait_for(2)
    assert [d.type for d in deliveries] == ["video.completed", "video.started"]
    assert deliveries[1].json["payload"]["status"] == "rendering"


def test_webhook_bad_signature(sim: SimClient, receiver: Receiver) -> None:
    sim.scenario(webhook_bad_signature=True, webhook_started=False)
    sim.create("face-swap", FACE_SWAP_BODY)
    (bad,) = receiver.wait_for(1)
    assert re.match(r"^[0-9a-f]{64}$", bad.headers["magic-hour-event-signature"])
    assert not verifies(bad)
    sim.scenario(webhook_bad_signature=False)
    sim.create("face-swap", FACE_SWAP_BODY)
    good = receiver.wait_for(2)[1]
    assert verifies(good)


def test_webhook_delay_seconds(sim: SimClient, receiver: Receiver) -> None:
    sim.scenario(webhook_delay_seconds=0.8, webhook_started=False)
    created = time.monotonic()
    project_id = sim.create("face-swap", FACE_SWAP_BODY)
    sim.wait_status("video", project_id)
    finished = time.monotonic()
    (delivery,) = receiver.wait_for(1)
    assert delivery.at - created >= 0.15 + 0.8 - 0.05  # render time plus the delay
    assert delivery.at - finished >= 0.3  # well after the project reached its terminal state


def test_retries_on_failure_and_re_signs(make_sim: Any, receiver: Receiver) -> None:
    sim = make_sim(webhook_url=receiver.url, webhook_retry_base_seconds=0.6)
    sim.scenario(render_seconds=0, webhook_started=False)
    receiver.statuses.extend([500, 500])
    project_id = sim.create("face-swap", FACE_SWAP_BODY)
    deliveries = receiver.wait_for(3)
    assert [d.status for d in deliveries] == [500, 500, 200]
    assert all(d.type == "video.completed" for d in deliveries)
    assert all(verifies(d) for d in deliveries)  # each attempt signed for its own timestamp
    stamps = [int(d.headers["magic-hour-event-timestamp"]) for d in deliveries]
    assert stamps[-1] > stamps[0]  # the last retry is >1 s later and carries a fresh timestamp
    gaps = [b.at - a.at for a, b in itertools.pairwise(deliveries)]
    assert gaps[0] >= 0.5
    assert gaps[1] >= 1.1  # exponential backoff
    assert receiver.quiet_for(0.3) == deliveries
    assert sim.stats()["webhook_attempts"] == 3
    log = requests.get(f"{sim.url}/_sim/webhooks", timeout=10).json()["deliveries"]
    (record,) = [r for r in log if r["project_id"] == project_id]
    assert record["state"] == "delivered"
    assert [a["status_code"] for a in record["attempts"]] == [500, 500, 200]


def test_retries_give_up_after_max_attempts(make_sim: Any, receiver: Receiver) -> None:
    sim = make_sim(webhook_url=receiver.url, webhook_retry_base_seconds=0.01, webhook_max_attempts=4)
    sim.scenario(render_seconds=0, webhook_started=False)
    receiver.statuses.extend([503] * 10)
    sim.create("face-swap", FACE_SWAP_BODY)
    receiver.wait_for(4)
    assert len(receiver.quiet_for(0.4)) == 4
    log = requests.get(f"{sim.url}/_sim/webhooks", timeout=10).json()["deliveries"]
    assert log[0]["state"] == "failed"


def test_connection_errors_are_retried(make_sim: Any) -> None:
    sim = make_sim(webhook_url="http://127.0.0.1:9/nothing-listens", webhook_retry_base_seconds=0.01)
    sim.scenario(render_seconds=0, webhook_started=False)
    sim.create("face-swap", FACE_SWAP_BODY)
    poll(
        lambda: sim.stats()["webhook_attempts"],
        5,
        "six webhook attempts",
        until=lambda attempts: attempts >= 6,
        interval=0.05,
    )
    assert sim.stats()["webhook_attempts"] == 6
    record = requests.get(f"{sim.url}/_sim/webhooks", timeout=10).json()["deliveries"][0]
    assert all(a["status_code"] is None and a["error"] for a in record["attempts"])


def test_no_webhook_url_means_no_delivery(make_sim: Any) -> None:
    sim = make_sim(webhook_url=None)
    sim.scenario(render_seconds=0)
    project_id = sim.create("face-swap", FACE_SWAP_BODY)
    assert sim.wait_status("video", project_id)["status"] == "complete"
    time.sleep(0.1)
    assert sim.stats()["webhook_attempts"] == 0
    response = requests.post(
        f"{sim.url}/_sim/webhooks", json={"type": "video.completed", "payload": {}}, timeout=10
    )
    assert response.status_code == 409


def test_manual_webhook_is_delivered_synchronously(sim: SimClient, receiver: Receiver) -> None:
    event = {"type": "video.completed", "payload": {"id": "cabc", "status": "complete", "downloads": []}}
    response = requests.post(f"{sim.url}/_sim/webhooks", json=event, timeout=10)
    assert response.json() == {"status_code": 200}
    (delivery,) = receiver.deliveries
    assert delivery.json == event
    assert delivery.body == json.dumps(event, separators=(",", ":")).encode()
    assert verifies(delivery)

    receiver.statuses.append(401)
    stale = {**event, "timestamp": 1729314984}
    response = requests.post(f"{sim.url}/_sim/webhooks", json=stale, timeout=10)
    assert response.json() == {"status_code": 401}
    assert receiver.deliveries[1].headers["magic-hour-event-timestamp"] == "1729314984"
    assert verifies(receiver.deliveries[1])
    assert len(receiver.quiet_for(0.3)) == 2  # one attempt only, no retry
    assert sim.stats()["webhook_attempts"] == 2

    bad = requests.post(f"{sim.url}/_sim/webhooks", json={"payload": {}}, timeout=10)
    assert bad.status_code == 400
    assert "type" in bad.json()["message"]
