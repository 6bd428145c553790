"""The Magic Hour surface: auth, validation, project shapes, delete, uploads."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest
import requests

from tests.polling import poll

from .helpers import AUDIO_BODY, FACE_SWAP_BODY, IMAGE_BODY, SimClient

TOOLS_PATH = Path(__file__).resolve().parents[2] / "shared/pipeline/magic_hour/data/magic_hour_tools.json"
TOOLS: dict[str, Any] = json.loads(TOOLS_PATH.read_text())["tools"]
CUID = re.compile(r"^c[0-9a-z]{24}$")

# Required response fields per kind, from the spec with deprecated fields (the SDK needs all of them).
VIDEO_FIELDS = {
    "id", "name", "status", "type", "created_at", "width", "height", "enabled", "start_seconds",
    "end_seconds", "total_frame_cost", "credits_charged", "fps", "error", "downloads", "download",
}  # fmt: skip
IMAGE_FIELDS = {
    "id", "name", "status", "image_count", "type", "created_at", "enabled", "total_frame_cost",
    "credits_charged", "downloads", "error",
}  # fmt: skip
AUDIO_FIELDS = {
    "id",
    "name",
    "status",
    "type",
    "created_at",
    "enabled",
    "credits_charged",
    "downloads",
    "error",
}


@pytest.mark.parametrize(
    "headers",
    [{}, {"Authorization": "Bearer wrong"}, {"Authorization": "mh-test-key"}, {"Authorization": "Basic x"}],
)
def test_v1_requires_the_bearer_key(sim: SimClient, headers: dict[str, str]) -> None:
    for method, path in [
        ("POST", "/v1/face-swap"),
        ("GET", "/v1/video-projects/cabc"),
        ("DELETE", "/v1/image-projects/cabc"),
        ("POST", "/v1/files/upload-urls"),
        ("POST", "/v1/no-such-tool"),
    ]:
        response = requests.request(method, sim.url + path, json=FACE_SWAP_BODY, headers=headers, timeout=10)
        assert response.status_code == 401
        assert response.json() == {"message": "Unauthorized"}
    assert sim.stats()["creates"] == 0


def test_unknown_tool_is_404(sim: SimClient) -> None:
    response = sim.create_raw("no-such-tool", {})
    assert response.status_code == 404
    assert response.json() == {"message": "Not Found"}
    assert sim.get("widget", "cabc").json() == {"message": "Not Found"}


def test_schema_failure_names_the_field(sim: SimClient) -> None:
    body = {**FACE_SWAP_BODY, "end_seconds": "ten"}
    response = sim.create_raw("face-swap", body)
    assert response.status_code == 400
    assert response.json() == {"message": "end_seconds must be number"}

    unknown = sim.create_raw("face-swap", {**FACE_SWAP_BODY, "colour": "red"})
    assert unknown.status_code == 400
    assert "colour" in unknown.json()["message"]

    nested = sim.create_raw("ai-image-generator", {"image_count": 1, "style": {}})
    assert nested.status_code == 400
    assert "style" in nested.json()["message"]
    assert "prompt" in nested.json()["message"]


def test_bad_json_and_missing_body(sim: SimClient) -> None:
    for data in [b"{not json", b""]:
        response = requests.post(
            f"{sim.url}/v1/face-swap",
            data=data,
            headers={**sim.auth, "Content-Type": "application/json"},
            timeout=10,
        )
        assert response.status_code == 400
        assert set(response.json()) == {"message"}
    assert sim.create_raw("face-swap", [1, 2]).json() == {"message": "body must be object"}


@pytest.mark.parametrize("tool", sorted(TOOLS))
def test_every_catalogue_tool_has_a_create_route(sim: SimClient, tool: str) -> None:
    response = sim.create_raw(tool, {})
    assert response.status_code == 400
    message = response.json()["message"]
    assert any(field in message for field in TOOLS[tool]["required"]), message


def test_create_does_not_alter_the_body(sim: SimClient) -> None:
    body = {**FACE_SWAP_BODY, "name": "keep me"}
    project_id = sim.create("face-swap", body)
    assert sim.sim_project(project_id)["request"] == body  # no schema defaults filled in


@pytest.mark.parametrize(
    ("tool", "body", "kind", "fields", "cost_field"),
    [
        ("face-swap", FACE_SWAP_BODY, "video", VIDEO_FIELDS, "estimated_frame_cost"),
        ("ai-image-generator", IMAGE_BODY, "image", IMAGE_FIELDS, "frame_cost"),
        ("ai-voice-generator", AUDIO_BODY, "audio", AUDIO_FIELDS, None),
    ],
)
def test_create_and_get_shapes(
    sim: SimClient, tool: str, body: dict[str, Any], kind: str, fields: set[str], cost_field: str | None
) -> None:
    response = sim.create_raw(tool, {**body, "name": "my job"})
    assert response.status_code == 200
    created = response.json()
    expected_keys = {"id", "credits_charged"} | ({cost_field} if cost_field else set())
    assert set(created) == expected_keys
    assert CUID.match(created["id"])
    assert isinstance(created["credits_charged"], int)
    assert created["credits_charged"] > 0

    first = sim.get(kind, created["id"]).json()
    assert set(first) == fields
    assert first["status"] in {"queued", "rendering"}
    assert first["downloads"] == []
    assert first["name"] == "my job"
    assert first["enabled"] is True
    assert first["type"].isupper()
    assert re.match(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$", first["created_at"])
    if kind == "video":
        assert first["download"] is None

    done = sim.wait_status(kind, created["id"])
    assert done["status"] == "complete"
    assert done["credits_charged"] == created["credits_charged"]
    assert len(done["downloads"]) == 1
    download = done["downloads"][0]
    assert set(download) == {"url", "expires_at"}
    extension = {"video": ".mp4", "image": ".png", "audio": ".mp3"}[kind]
    assert download["url"].split("?")[0].endswith(extension)
    if kind == "video":
        assert set(done["download"]) == {"url", "expires_at"}
    again = sim.get(kind, created["id"]).json()
    assert again["downloads"][0]["url"] != download["url"]  # freshly signed on every GET
    assert "sig=" in download["url"]
    assert "expires=" in download["url"]


def test_status_moves_through_queued_and_rendering(make_sim: Any) -> None:
    sim = make_sim()
    sim.scenario(render_seconds=0.9)
    project_id = sim.create("face-swap", FACE_SWAP_BODY)
    seen: list[str] = []

    def status() -> str:
        now = str(sim.get("video", project_id).json()["status"])
        if not seen or seen[-1] != now:
            seen.append(now)
        return now

    poll(status, 5, "the project's end", until=lambda now: now == "complete", interval=0.03)
    assert seen == ["queued", "rendering", "complete"]


def test_wrong_kind_is_404(sim: SimClient) -> None:
    project_id = sim.create("face-swap", FACE_SWAP_BODY)
    assert sim.get("image", project_id).status_code == 404
    assert sim.get("audio", project_id).status_code == 404
    assert sim.get("video", project_id).status_code == 200


def test_delete_then_get_is_404(sim: SimClient) -> None:
    project_id = sim.create("ai-image-generator", IMAGE_BODY)
    sim.wait_status("image", project_id)
    url = f"{sim.url}/v1/image-projects/{project_id}"
    deleted = requests.delete(url, headers=sim.auth, timeout=10)
    assert deleted.status_code == 204
    assert deleted.content == b""
    gone = sim.get("image", project_id)
    assert gone.status_code == 404
    assert gone.json() == {"message": "Not Found"}
    assert requests.delete(url, headers=sim.auth, timeout=10).status_code == 404
    assert sim.sim_project(project_id)["deleted"] is True
    listed = requests.get(f"{sim.url}/_sim/projects", timeout=10).json()["projects"]
    assert [p["deleted"] for p in listed if p["id"] == project_id] == [True]
    stats = sim.stats()
    assert stats["deletes"] == 2
    assert stats["gets"] >= 2


def test_sim_projects_view(sim: SimClient) -> None:
    project_id = sim.create("ai-image-generator", {**IMAGE_BODY, "image_count": 2, "name": "pair"})
    sim.wait_status("image", project_id)
    view = sim.sim_project(project_id)
    for key in [
        "id",
        "tool",
        "kind",
        "name",
        "status",
        "created_at",
        "credits_charged",
        "deleted",
        "outputs",
    ]:
        assert key in view
    assert view["tool"] == "ai-image-generator"
    assert view["kind"] == "image"
    assert view["name"] == "pair"
    assert view["status"] == "complete"
    assert [o["index"] for o in view["outputs"]] == [0, 1]
    assert all(re.match(r"^[0-9a-f]{64}$", o["sha256"]) for o in view["outputs"])
    assert view["outputs"][0]["sha256"] != view["outputs"][1]["sha256"]
    assert requests.get(f"{sim.url}/_sim/projects/cnope", timeout=10).status_code == 404


def test_stats_count_requests(sim: SimClient) -> None:
    project_id = sim.create("face-swap", FACE_SWAP_BODY)
    sim.create_raw("face-swap", {})  # an invalid create is still a create request
    done = sim.wait_status("video", project_id)
    requests.get(done["downloads"][0]["url"], timeout=10)
    stats = sim.stats()
    assert set(stats) == {
        "creates",
        "gets",
        "deletes",
        "downloads",
        "webhook_attempts",
        "rejected_creates",
        "max_active",
    }
    assert stats["creates"] == 2
    assert stats["gets"] >= 1
    assert stats["downloads"] == 1
    assert stats["deletes"] == 0


def test_reset_forgets_everything(sim: SimClient) -> None:
    sim.scenario(outputs=3)
    sim.create("face-swap", FACE_SWAP_BODY)
    assert requests.post(f"{sim.url}/_sim/reset", timeout=10).status_code == 200
    assert requests.get(f"{sim.url}/_sim/projects", timeout=10).json() == {"projects": []}
    assert sim.stats() == dict.fromkeys(
        ["creates", "gets", "deletes", "downloads", "webhook_attempts", "rejected_creates", "max_active"], 0
    )
    assert requests.get(f"{sim.url}/_sim/scenario", timeout=10).json()["outputs"] == 1


def test_upload_url_round_trip(sim: SimClient) -> None:
    response = requests.post(
        f"{sim.url}/v1/files/upload-urls",
        json={"items": [{"type": "video", "extension": "mp4"}, {"type": "image", "extension": "png"}]},
        headers=sim.auth,
        timeout=10,
    )
    assert response.status_code == 200
    items = response.json()["items"]
    assert len(items) == 2
    for item, extension in zip(items, ["mp4", "png"], strict=True):
        assert set(item) == {"upload_url", "expires_at", "file_path"}
        assert item["file_path"].startswith("api-assets/")
        assert item["file_path"].endswith("." + extension)
    data = b"\x00\x01fake video bytes" * 1000
    put = requests.put(items[0]["upload_url"], data=data, timeout=10)
    assert put.status_code == 200
    stored = requests.get(f"{sim.url}/_uploads/{items[0]['file_path']}", timeout=10)
    assert stored.content == data
    tampered = items[1]["upload_url"].replace("sig=", "sig=0")
    assert requests.put(tampered, data=b"x", timeout=10).status_code == 403

    bad = requests.post(
        f"{sim.url}/v1/files/upload-urls",
        json={"items": [{"type": "document", "extension": "pdf"}]},
        headers=sim.auth,
        timeout=10,
    )
    assert bad.status_code == 400
    assert "type" in bad.json()["message"]


def test_concurrent_requests(sim: SimClient) -> None:
    from concurrent.futures import ThreadPoolExecutor

    def one(_: int) -> str:
        project_id = sim.create("ai-voice-generator", AUDIO_BODY)
        done = sim.wait_status("audio", project_id)
        assert done["status"] == "complete"
        assert requests.get(done["downloads"][0]["url"], timeout=10).status_code == 200
        return project_id

    with ThreadPoolExecutor(max_workers=24) as pool:
        ids = list(pool.map(one, range(24)))
    assert len(set(ids)) == 24
    stats = sim.stats()
    assert stats["creates"] == 24
    assert stats["downloads"] == 24
