"""Input files: loopback *_file_path URLs are fetched at create and recorded; a bad one fails the render."""

from __future__ import annotations

import hashlib
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest
import requests
from conftest import running_moto_server

from local.simulator.inputs import field_kind, file_paths, is_fetched

from .helpers import FACE_SWAP_BODY, Receiver, SimClient


def pattern(size: int) -> bytes:
    return (bytes(range(256)) * (size // 256 + 1))[:size]


class InputServer:
    """Serves /ok/<size>, /status/<code>, /redirect and /stall/<seconds>; records every request path."""

    def __init__(self, host: str = "127.0.0.1") -> None:
        self.paths: list[str] = []
        server = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                server.paths.append(self.path)
                kind, _, arg = self.path.split("?")[0].strip("/").partition("/")
                if kind == "ok":
                    body = pattern(int(arg))
                    self.send_response(200)
                    self.send_header("Content-Length", str(len(body)))
                    self.end_headers()
                    self.wfile.write(body)
                elif kind == "status":
                    self.send_response(int(arg))
                    self.send_header("Content-Length", "0")
                    self.end_headers()
                elif kind == "redirect":
                    self.send_response(302)
                    self.send_header("Location", "/ok/10")
                    self.send_header("Content-Length", "0")
                    self.end_headers()
                elif kind == "stall":
                    time.sleep(float(arg))
                    try:
                        self.send_response(200)
                        self.send_header("Content-Length", "1")
                        self.end_headers()
                        self.wfile.write(b"x")
                    except BrokenPipeError:
                        pass  # the simulator gave up waiting, as it should

            def log_message(self, format: str, *args: Any) -> None:
                pass

        self._server = ThreadingHTTPServer((host, 0), Handler)
        self._server.daemon_threads = True
        self.port = self._server.server_port
        self._thread = threading.Thread(target=self._server.serve_forever, kwargs={"poll_interval": 0.05})
        self._thread.daemon = True
        self._thread.start()

    def url(self, path: str, host: str = "127.0.0.1") -> str:
        return f"http://{host}:{self.port}{path}"

    def close(self) -> None:
        self._server.shutdown()
        self._server.server_close()


@pytest.fixture
def files() -> Iterator[InputServer]:
    server = InputServer()
    yield server
    server.close()


def face_swap(video: str, image: str) -> dict[str, Any]:
    return {
        **FACE_SWAP_BODY,
        "assets": {"video_source": "file", "video_file_path": video, "image_file_path": image},
    }


def test_loopback_inputs_are_fetched_and_others_only_recorded(sim: SimClient, files: InputServer) -> None:
    video_url = files.url("/ok/300000?X-Amz-Signature=abc")
    project_id = sim.create("face-swap", face_swap(video_url, "https://example.com/face.png"))
    # Fetched before the create answered: the record is there at once.
    inputs = sim.sim_project(project_id)["inputs"]
    assert [
        {key: item[key] for key in ("field", "url", "fetched", "status_code", "size_bytes", "sha256")}
        for item in inputs
    ] == [
        {
            "field": "assets.video_file_path",
            "url": video_url,
            "fetched": True,
            "status_code": 200,
            "size_bytes": 300000,
            "sha256": hashlib.sha256(pattern(300000)).hexdigest(),
        },
        {
            "field": "assets.image_file_path",
            "url": "https://example.com/face.png",
            "fetched": False,
            "status_code": None,
            "size_bytes": None,
            "sha256": None,
        },
    ]
    assert files.paths == ["/ok/300000?X-Amz-Signature=abc"]
    assert sim.wait_status("video", project_id)["status"] == "complete"


def test_simulator_uploads_can_be_inputs(sim: SimClient) -> None:
    item = requests.post(
        f"{sim.url}/v1/files/upload-urls",
        json={"items": [{"type": "image", "extension": "png"}]},
        headers=sim.auth,
        timeout=10,
    ).json()["items"][0]
    data = b"\x89PNG fake image" * 500
    assert requests.put(item["upload_url"], data=data, timeout=10).status_code == 200
    readable = f"{sim.url}/_uploads/{item['file_path']}"
    body = {
        "assets": {"source_file_path": readable, "target_file_path": readable.replace("api-assets", "nope")}
    }
    project_id = sim.create("face-swap-photo", body)
    source, target = sim.sim_project(project_id)["inputs"]
    assert (source["status_code"], source["size_bytes"]) == (200, len(data))
    assert source["sha256"] == hashlib.sha256(data).hexdigest()
    assert target["fetched"] is True
    assert target["status_code"] == 404


@pytest.mark.parametrize(
    ("tool", "body", "code"),
    [
        ("face-swap", face_swap("{bad}", "{good}"), "invalid_video_file"),
        ("face-swap", face_swap("{good}", "{bad}"), "invalid_image_file"),
        (
            "lip-sync",
            {
                "start_seconds": 0,
                "end_seconds": 4,
                "assets": {"video_source": "file", "video_file_path": "{good}", "audio_file_path": "{bad}"},
            },
            "invalid_audio_file",
        ),
        # No kind in the field's name: the tool's kind decides.
        (
            "face-swap-photo",
            {"assets": {"source_file_path": "{bad}", "target_file_path": "{good}"}},
            "invalid_image_file",
        ),
        (
            "ai-voice-cloner",
            {"assets": {"audio_file_path": "{bad}"}, "style": {"prompt": "hi"}},
            "invalid_audio_file",
        ),
    ],
)
def test_an_unreadable_input_ends_the_project_error(
    sim: SimClient, receiver: Receiver, files: InputServer, tool: str, body: dict[str, Any], code: str
) -> None:
    good, bad = files.url("/ok/100"), files.url("/status/404?X-Amz-Signature=secret", host="localhost")
    filled = _fill(body, {"{good}": good, "{bad}": bad})
    response = sim.create_raw(tool, filled)
    assert response.status_code == 200, response.text  # the create itself is accepted
    project_id = response.json()["id"]
    kind = sim.sim_project(project_id)["kind"]
    done = sim.wait_status(kind, project_id)
    assert done["status"] == "error"
    assert done["error"]["code"] == code
    # The message may reach the pipeline's clients: it names the field, never the signed URL.
    assert "secret" not in done["error"]["message"]
    assert "localhost" not in done["error"]["message"]
    assert done["credits_charged"] == 0  # refunded
    assert done["downloads"] == []
    view = sim.sim_project(project_id)
    assert view["outputs"] == []
    assert [item["status_code"] for item in view["inputs"] if item["url"] == bad] == [404]
    deliveries = receiver.wait_for(2)
    assert [d.type for d in deliveries] == [f"{kind}.started", f"{kind}.errored"]
    assert deliveries[1].json["payload"]["error"]["code"] == code


def _fill(value: Any, replacements: dict[str, str]) -> Any:
    if isinstance(value, dict):
        return {key: _fill(child, replacements) for key, child in value.items()}
    if isinstance(value, str):
        return replacements.get(value, value)
    return value


def test_other_loopback_addresses_are_never_fetched(sim: SimClient) -> None:
    elsewhere = InputServer(host="127.0.0.2")
    try:
        url = elsewhere.url("/status/404", host="127.0.0.2")
        project_id = sim.create("face-swap", face_swap(url, "ftp://localhost/face.png"))
        inputs = sim.sim_project(project_id)["inputs"]
        assert [item["fetched"] for item in inputs] == [False, False]
        assert sim.wait_status("video", project_id)["status"] == "complete"
        assert elsewhere.paths == []
    finally:
        elsewhere.close()


def test_redirects_are_not_followed(sim: SimClient, files: InputServer) -> None:
    project_id = sim.create("face-swap", face_swap(files.url("/redirect"), "https://example.com/f.png"))
    assert files.paths == ["/redirect"]
    assert sim.sim_project(project_id)["inputs"][0]["status_code"] == 302
    assert sim.wait_status("video", project_id)["error"]["code"] == "invalid_video_file"


def test_an_input_over_the_size_cap_fails(make_sim: Any, files: InputServer) -> None:
    sim = make_sim(input_max_bytes=1_000_000)
    sim.scenario(render_seconds=0.1)
    small = sim.create("face-swap", face_swap(files.url("/ok/1000000"), "https://example.com/f.png"))
    large = sim.create("face-swap", face_swap(files.url("/ok/3000000"), "https://example.com/f.png"))
    assert sim.wait_status("video", small)["status"] == "complete"
    assert sim.wait_status("video", large)["error"]["code"] == "invalid_video_file"
    record = sim.sim_project(large)["inputs"][0]
    assert record["sha256"] is None
    assert "larger" in record["problem"]


def test_a_stalled_input_times_out_quickly(make_sim: Any, files: InputServer) -> None:
    sim = make_sim(input_timeout_seconds=0.3)
    sim.scenario(render_seconds=0.1)
    started = time.monotonic()
    project_id = sim.create("face-swap", face_swap(files.url("/stall/3"), "https://example.com/f.png"))
    assert time.monotonic() - started < 2
    record = sim.sim_project(project_id)["inputs"][0]
    assert record["fetched"] is True
    assert record["status_code"] is None
    assert record["problem"] == "ReadTimeout"
    assert sim.wait_status("video", project_id)["error"]["code"] == "invalid_video_file"


def test_an_unreachable_input_fails(sim: SimClient) -> None:
    closed = InputServer()
    url = closed.url("/ok/10")
    closed.close()  # nothing listens on that port any more
    project_id = sim.create("face-swap", face_swap(url, "https://example.com/f.png"))
    assert sim.sim_project(project_id)["inputs"][0]["problem"] == "ConnectionError"
    assert sim.wait_status("video", project_id)["error"]["code"] == "invalid_video_file"


def test_a_large_input_streams_with_the_right_hash(sim: SimClient, files: InputServer) -> None:
    size = 32 * 1024 * 1024
    project_id = sim.create("face-swap", face_swap(files.url(f"/ok/{size}"), "https://example.com/f.png"))
    record = sim.sim_project(project_id)["inputs"][0]
    assert record["size_bytes"] == size
    assert record["sha256"] == hashlib.sha256(pattern(size)).hexdigest()


def test_file_paths_at_any_depth_in_body_order() -> None:
    body = {
        "name": "x",
        "video_file_path": "a",
        "assets": {"image_file_path": "b", "nested": [{"audio_file_path": "c"}, {"file_path": "not one"}]},
        "style": {"mask_file_path": 7},  # not a string: nothing to fetch
    }
    assert list(file_paths(body)) == [
        ("video_file_path", "a"),
        ("assets.image_file_path", "b"),
        ("assets.nested[0].audio_file_path", "c"),
    ]


@pytest.mark.parametrize(
    ("path", "tool_kind", "kind"),
    [
        ("assets.video_file_path", "image", "video"),
        ("assets.background_image_file_path", "video", "image"),
        ("assets.end_image_file_path", "video", "image"),
        ("assets.audio_file_path", "video", "audio"),
        ("assets.person_file_path", "image", "image"),
        ("assets.source_file_path", "video", "video"),
    ],
)
def test_field_kind(path: str, tool_kind: Any, kind: str) -> None:
    assert field_kind(path, tool_kind) == kind


@pytest.mark.parametrize(
    ("url", "fetched"),
    [
        ("http://127.0.0.1:5000/bucket/key?X-Amz-Signature=x", True),
        ("https://localhost/x", True),
        ("http://LOCALHOST:9/x", True),
        ("http://127.0.0.2/x", False),
        ("http://localhost.example.com/x", False),
        ("https://example.com/x?host=127.0.0.1", False),
        ("s3://bucket/key", False),
        ("api-assets/abc/video.mp4", False),
        ("http://[::1/x", False),
    ],
)
def test_is_fetched(url: str, fetched: bool) -> None:
    assert is_fetched(url) is fetched


@pytest.fixture(scope="module")
def moto_s3() -> Iterator[Any]:
    """An S3 client on a real local AWS endpoint (the local stack's moto server), with one bucket."""
    import boto3
    from botocore.config import Config

    with running_moto_server() as endpoint:
        client = boto3.client(
            "s3",
            endpoint_url=endpoint,
            region_name="us-east-1",
            aws_access_key_id="testing",
            aws_secret_access_key="testing",  # moto accepts any credentials
            config=Config(signature_version="s3v4"),
        )
        client.create_bucket(Bucket="inputs")
        yield client


def test_presigned_local_aws_urls_are_fetched(sim: SimClient, moto_s3: Any) -> None:
    data = pattern(2_000_000)
    moto_s3.put_object(Bucket="inputs", Key="clip.mp4", Body=data)
    good = moto_s3.generate_presigned_url(
        "get_object", Params={"Bucket": "inputs", "Key": "clip.mp4"}, ExpiresIn=300
    )
    missing = moto_s3.generate_presigned_url(
        "get_object", Params={"Bucket": "inputs", "Key": "nope.png"}, ExpiresIn=300
    )
    project_id = sim.create("face-swap", face_swap(good, missing))
    video, image = sim.sim_project(project_id)["inputs"]
    assert (video["fetched"], video["status_code"], video["size_bytes"]) == (True, 200, len(data))
    assert video["sha256"] == hashlib.sha256(data).hexdigest()
    assert (image["fetched"], image["status_code"]) == (True, 404)
    done = sim.wait_status("video", project_id)
    assert done["error"]["code"] == "invalid_image_file"
    assert "X-Amz" not in done["error"]["message"]
