"""The official magic-hour SDK (0.90.0) runs unchanged against the simulator, base URL aside."""

from __future__ import annotations

import hashlib
from pathlib import Path

import pytest
import requests
from magic_hour import Client
from make_api_request import ApiError

from .helpers import API_KEY, Receiver, SimClient


@pytest.fixture
def client(sim: SimClient, monkeypatch: pytest.MonkeyPatch) -> Client:
    monkeypatch.setenv("MAGIC_HOUR_POLL_INTERVAL", "0.05")  # the SDK's own knob; 0.5 s by default
    return Client(token=API_KEY, base_url=sim.url)


def file_sha(path: str) -> str:
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()


def expected_hashes(sim: SimClient, project_id: str) -> list[str]:
    return [output["sha256"] for output in sim.sim_project(project_id)["outputs"]]


def test_sdk_video_with_uploads(client: Client, sim: SimClient, tmp_path: Path, receiver: Receiver) -> None:
    video = tmp_path / "source.mp4"
    face = tmp_path / "face.png"
    video.write_bytes(b"not really a video" * 100)
    face.write_bytes(b"not really a png" * 10)
    out = tmp_path / "out"
    out.mkdir()
    result = client.v1.face_swap.generate(
        assets={"video_source": "file", "video_file_path": str(video), "image_file_path": str(face)},
        start_seconds=0.0,
        end_seconds=5.0,
        name="sdk video",
        download_outputs=True,
        download_directory=str(out),
    )
    assert result.status == "complete"
    assert result.name == "sdk video"
    assert result.downloaded_paths is not None
    assert [file_sha(p) for p in result.downloaded_paths] == expected_hashes(sim, result.id)
    assert result.downloaded_paths[0].endswith(".mp4")
    # The SDK uploaded both local files through upload URLs and sent their file paths.
    body = sim.sim_project(result.id)["request"]
    assert body["assets"]["video_file_path"].startswith("api-assets/")
    assert body["assets"]["image_file_path"].startswith("api-assets/")
    uploaded = requests.get(f"{sim.url}/_uploads/{body['assets']['video_file_path']}", timeout=10)
    assert uploaded.content == video.read_bytes()


def test_sdk_image_with_two_outputs(client: Client, sim: SimClient, tmp_path: Path) -> None:
    result = client.v1.ai_image_generator.generate(
        image_count=2,
        style={"prompt": "a lighthouse at dawn"},
        download_outputs=True,
        download_directory=str(tmp_path),
    )
    assert result.status == "complete"
    assert result.image_count == 2
    assert result.downloaded_paths is not None
    assert len(result.downloaded_paths) == 2
    assert [file_sha(p) for p in result.downloaded_paths] == expected_hashes(sim, result.id)


def test_sdk_audio(client: Client, sim: SimClient, tmp_path: Path) -> None:
    result = client.v1.ai_voice_generator.generate(
        style={"prompt": "Hello from the simulator", "voice_name": "Morgan Freeman"},
        download_outputs=True,
        download_directory=str(tmp_path),
    )
    assert result.status == "complete"
    assert result.downloaded_paths is not None
    assert [file_sha(p) for p in result.downloaded_paths] == expected_hashes(sim, result.id)


def test_sdk_create_get_delete(client: Client, sim: SimClient) -> None:
    created = client.v1.text_to_video.create(end_seconds=5.0, style={"prompt": "waves"})
    assert created.estimated_frame_cost == created.credits_charged
    project = client.v1.video_projects.get(id=created.id)
    assert project.id == created.id
    assert project.download is None
    image = client.v1.ai_image_generator.create(image_count=1, style={"prompt": "x"})
    assert image.frame_cost == image.credits_charged
    assert client.v1.image_projects.get(id=image.id).total_frame_cost == image.credits_charged
    client.v1.video_projects.delete(id=created.id)
    with pytest.raises(ApiError) as raised:
        client.v1.video_projects.get(id=created.id)
    assert raised.value.status_code == 404


def test_sdk_sees_errors(client: Client, sim: SimClient) -> None:
    sim.scenario(outcome="error")
    result = client.v1.ai_voice_generator.generate(
        style={"prompt": "x", "voice_name": "Morgan Freeman"}, download_outputs=True
    )
    assert result.status == "error"
    assert result.error is not None
    assert result.error.code == "unknown_error"
    sim.scenario(create_status=402)
    with pytest.raises(ApiError) as raised:
        client.v1.ai_voice_generator.create(style={"prompt": "x", "voice_name": "Morgan Freeman"})
    assert raised.value.status_code == 402
    wrong_key = Client(token="nope", base_url=sim.url)
    with pytest.raises(ApiError) as unauthorized:
        wrong_key.v1.ai_voice_generator.create(style={"prompt": "x", "voice_name": "Morgan Freeman"})
    assert unauthorized.value.status_code == 401
