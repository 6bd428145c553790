"""The scenario control API and the create/lifecycle fields (docs/local-stack.md, "Scenario fields")."""

from __future__ import annotations

import time
from typing import Any

import pytest
import requests

from .helpers import AUDIO_BODY, FACE_SWAP_BODY, IMAGE_BODY, Receiver, SimClient

DEFAULTS = {
    "render_seconds": 0.5,
    "outcome": "complete",
    "outputs": 1,
    "output_bytes": 65536,
    "create_status": 200,
    "create_commits": False,
    "upload_url_status": 200,
    "plan_concurrency": 0,
    "create_delay_seconds": 0,
    "webhook_send": True,
    "webhook_started": True,
    "webhook_duplicates": 0,
    "webhook_reverse_order": False,
    "webhook_bad_signature": False,
    "webhook_delay_seconds": 0,
    "download_expire_seconds": 86400,
    "download_fail_first": 0,
    "download_fail_status": 500,
    "download_truncate_first": 0,
    "download_bytes_per_second": None,
    "account_credits": 1_000_000,
    "account_tier": "business",
}


def test_scenario_defaults_put_merges_delete_resets(make_sim: Any) -> None:
    sim = make_sim()
    url = f"{sim.url}/_sim/scenario"
    current = requests.get(url, timeout=10).json()
    assert {key: current[key] for key in DEFAULTS} == DEFAULTS
    assert current["error"]["code"] == "unknown_error"
    # One field beyond the contract, off by default.
    assert current["image_started_skip_ratio"] == 0
    assert set(current) == set(DEFAULTS) | {"error", "image_started_skip_ratio"}

    first = requests.put(url, json={"outputs": 3}, timeout=10).json()
    second = requests.put(url, json={"render_seconds": 2}, timeout=10).json()
    assert first["outputs"] == 3
    assert second["outputs"] == 3
    assert second["render_seconds"] == 2
    assert requests.get(url, timeout=10).json() == second

    partial_error = requests.put(url, json={"error": {"code": "no_source_face"}}, timeout=10).json()
    assert partial_error["error"]["code"] == "no_source_face"
    assert partial_error["error"]["message"]

    reset = requests.delete(url, timeout=10)
    assert reset.status_code == 200
    assert {key: reset.json()[key] for key in DEFAULTS} == DEFAULTS


@pytest.mark.parametrize(
    ("patch", "field"),
    [
        ({"render_seconds": "fast"}, "render_seconds"),
        ({"render_seconds": True}, "render_seconds"),
        ({"outcome": "exploded"}, "outcome"),
        ({"outputs": 1.5}, "outputs"),
        ({"create_status": 418}, "create_status"),
        ({"webhook_send": "yes"}, "webhook_send"),
        ({"download_bytes_per_second": 0}, "download_bytes_per_second"),
        ({"plan_concurrency": -1}, "plan_concurrency"),
        ({"create_commits": 1}, "create_commits"),
        ({"error": {"code": "x", "detail": "y"}}, "detail"),
        ({"no_such_field": 1}, "no_such_field"),
    ],
)
def test_bad_scenario_is_400_naming_the_field(make_sim: Any, patch: dict[str, Any], field: str) -> None:
    sim = make_sim()
    before = requests.get(f"{sim.url}/_sim/scenario", timeout=10).json()
    response = requests.put(f"{sim.url}/_sim/scenario", json=patch, timeout=10)
    assert response.status_code == 400
    assert field in response.json()["message"]
    assert requests.get(f"{sim.url}/_sim/scenario", timeout=10).json() == before
    assert requests.put(f"{sim.url}/_sim/scenario", data=b"{", timeout=10).status_code == 400


@pytest.mark.parametrize("status", [400, 402, 422, 429, 500, 503])
def test_create_status_forces_the_answer(make_sim: Any, status: int) -> None:
    sim = make_sim()
    sim.scenario(create_status=status)
    response = sim.create_raw("face-swap", FACE_SWAP_BODY)
    assert response.status_code == status
    assert set(response.json()) == {"message"}
    assert response.json()["message"]
    if status in (429, 503):
        assert int(response.headers["Retry-After"]) >= 1
    else:
        assert "Retry-After" not in response.headers
    if status == 422:
        assert response.json()["message"] == "Unable to create video"
    assert requests.get(f"{sim.url}/_sim/projects", timeout=10).json() == {"projects": []}
    assert sim.stats()["creates"] == 1
    sim.scenario(create_status=200)
    assert sim.create_raw("face-swap", FACE_SWAP_BODY).status_code == 200
    assert sim.stats()["creates"] == 2


def test_create_delay_seconds(make_sim: Any) -> None:
    sim = make_sim()
    started = time.monotonic()
    sim.create("ai-voice-generator", AUDIO_BODY)
    fast = time.monotonic() - started
    sim.scenario(create_delay_seconds=0.6)
    started = time.monotonic()
    sim.create("ai-voice-generator", AUDIO_BODY)
    slow = time.monotonic() - started
    assert slow >= 0.6
    assert fast < 0.5


def test_render_seconds(make_sim: Any) -> None:
    sim = make_sim()
    sim.scenario(render_seconds=0.8)
    started = time.monotonic()
    project_id = sim.create("ai-voice-generator", AUDIO_BODY)
    sim.wait_status("audio", project_id)
    assert 0.7 <= time.monotonic() - started < 3


def test_scenario_is_captured_at_create(make_sim: Any) -> None:
    sim = make_sim()
    sim.scenario(render_seconds=0.3, outputs=2)
    project_id = sim.create("face-swap", FACE_SWAP_BODY)
    sim.scenario(outputs=5, outcome="error")
    done = sim.wait_status("video", project_id)
    assert done["status"] == "complete"
    assert len(done["downloads"]) == 2


def test_outcome_complete(sim: SimClient, receiver: Receiver) -> None:
    project_id = sim.create("face-swap", FACE_SWAP_BODY)
    done = sim.wait_status("video", project_id)
    assert done["status"] == "complete"
    assert done["error"] is None
    types = [d.type for d in receiver.wait_for(2)]
    assert types == ["video.started", "video.completed"]


def test_outcome_error(sim: SimClient, receiver: Receiver) -> None:
    error = {"code": "no_source_face", "message": "Please use an image with a detectable face"}
    sim.scenario(outcome="error", error=error)
    project_id = sim.create("face-swap", FACE_SWAP_BODY)
    done = sim.wait_status("video", project_id)
    assert done["status"] == "error"
    assert done["error"] == error
    assert done["downloads"] == []
    assert done["download"] is None
    assert done["credits_charged"] == 0  # refunded, as Magic Hour documents
    deliveries = receiver.wait_for(2)
    assert [d.type for d in deliveries] == ["video.started", "video.errored"]
    assert deliveries[1].json["payload"]["error"] == error
    assert sim.sim_project(project_id)["outputs"] == []


def test_outcome_canceled_sends_no_terminal_webhook(sim: SimClient, receiver: Receiver) -> None:
    sim.scenario(outcome="canceled")
    project_id = sim.create("ai-image-generator", IMAGE_BODY)
    done = sim.wait_status("image", project_id)
    assert done["status"] == "canceled"
    assert done["downloads"] == []
    deliveries = receiver.quiet_for(0.4)
    assert [d.type for d in deliveries] == ["image.started"]


def test_outputs_and_image_count(sim: SimClient) -> None:
    sim.scenario(outputs=3)
    video_id = sim.create("face-swap", FACE_SWAP_BODY)
    image_id = sim.create("ai-image-generator", {**IMAGE_BODY, "image_count": 2})
    photo_id = sim.create(
        "face-swap-photo", {"assets": {"source_file_path": "a.png", "target_file_path": "b.png"}}
    )
    video = sim.wait_status("video", video_id)
    image = sim.wait_status("image", image_id)
    photo = sim.wait_status("image", photo_id)
    assert len(video["downloads"]) == 3
    assert len(image["downloads"]) == 2  # image_count wins over the scenario
    assert image["image_count"] == 2
    assert len(photo["downloads"]) == 3  # no image_count in the body: the scenario decides
    assert len({d["url"].split("?")[0] for d in video["downloads"]}) == 3


def test_output_bytes(sim: SimClient) -> None:
    sim.scenario(output_bytes=12345)
    project_id = sim.create("ai-voice-generator", AUDIO_BODY)
    done = sim.wait_status("audio", project_id)
    response = requests.get(done["downloads"][0]["url"], timeout=10)
    assert response.status_code == 200
    assert response.headers["Content-Length"] == "12345"
    assert response.headers["Content-Type"] == "audio/mpeg"
    assert len(response.content) == 12345
    assert sim.sim_project(project_id)["outputs"][0]["size_bytes"] == 12345


def test_gif_tool_serves_gif(sim: SimClient) -> None:
    project_id = sim.create("ai-gif-generator", {"style": {"prompt": "a dancing cat"}})
    done = sim.wait_status("image", project_id)
    url = done["downloads"][0]["url"]
    assert url.split("?")[0].endswith(".gif")
    assert requests.get(url, timeout=10).headers["Content-Type"] == "image/gif"


@pytest.mark.parametrize("status", [520, 524])
def test_a_cdn_status_is_answered_as_the_cdn_does_with_an_html_page(make_sim: Any, status: int) -> None:
    sim = make_sim()
    requests.put(f"{sim.url}/_sim/scenario", json={"create_status": status}, timeout=10).raise_for_status()
    answer = sim.create_raw("ai-image-generator", IMAGE_BODY)
    assert answer.status_code == status
    assert answer.headers["Content-Type"].startswith("text/html")
    assert requests.get(f"{sim.url}/_sim/stats", timeout=10).json()["creates"] == 1
    assert requests.get(f"{sim.url}/_sim/projects", timeout=10).json() == {"projects": []}


@pytest.mark.parametrize("status", [501, 520, 524])
def test_an_unknown_status_with_create_commits_makes_the_project(make_sim: Any, status: int) -> None:
    sim = make_sim()
    requests.put(
        f"{sim.url}/_sim/scenario", json={"create_status": status, "create_commits": True}, timeout=10
    ).raise_for_status()
    answer = sim.create_raw("ai-image-generator", IMAGE_BODY)
    assert answer.status_code == status
    assert len(requests.get(f"{sim.url}/_sim/projects", timeout=10).json()["projects"]) == 1


@pytest.mark.parametrize("status", [502, 504])
def test_the_upload_url_call_can_be_forced_to_a_gateway_error(make_sim: Any, status: int) -> None:
    sim = make_sim()
    url = f"{sim.url}/v1/files/upload-urls"
    body = {"items": [{"type": "video", "extension": "mp4"}]}
    headers = sim.auth
    requests.put(
        f"{sim.url}/_sim/scenario", json={"upload_url_status": status}, timeout=10
    ).raise_for_status()
    assert requests.post(url, json=body, headers=headers, timeout=10).status_code == status
    requests.delete(f"{sim.url}/_sim/scenario", timeout=10).raise_for_status()
    assert requests.post(url, json=body, headers=headers, timeout=10).status_code == 200
