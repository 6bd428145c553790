"""Test helpers: a tiny webhook receiver and thin HTTP calls to a running simulator."""

from __future__ import annotations

import json
import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import requests

from local.simulator import RunningSimulator
from tests.polling import poll

API_KEY = "mh-test-key"
WEBHOOK_SECRET = "whsec_test_secret"

FACE_SWAP_BODY: dict[str, Any] = {
    "start_seconds": 0,
    "end_seconds": 10,
    "assets": {
        "video_source": "file",
        "video_file_path": "https://example.com/in.mp4",
        "image_file_path": "https://example.com/face.png",
    },
}
IMAGE_BODY: dict[str, Any] = {"image_count": 1, "style": {"prompt": "a lighthouse at dawn"}}
AUDIO_BODY: dict[str, Any] = {"style": {"prompt": "Hello there", "voice_name": "Morgan Freeman"}}


@dataclass
class Delivery:
    body: bytes
    headers: dict[str, str]
    status: int
    at: float

    @property
    def json(self) -> Any:
        return json.loads(self.body)

    @property
    def type(self) -> str:
        return str(self.json["type"])


class Receiver:
    """Records every webhook POST; answers from a queue of statuses, then 200."""

    def __init__(self) -> None:
        self.deliveries: list[Delivery] = []
        self.statuses: deque[int] = deque()
        self._cond = threading.Condition()
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
                with receiver._cond:
                    status = receiver.statuses.popleft() if receiver.statuses else 200
                    headers = {key.lower(): value for key, value in self.headers.items()}
                    receiver.deliveries.append(Delivery(body, headers, status, time.monotonic()))
                    receiver._cond.notify_all()
                self.send_response(status)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, format: str, *args: Any) -> None:
                pass

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self._server.server_port}/webhooks/magic-hour"
        self._thread = threading.Thread(
            target=self._server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        )
        self._thread.start()

    def wait_for(self, count: int, timeout: float = 10.0) -> list[Delivery]:
        deadline = time.monotonic() + timeout
        with self._cond:
            while len(self.deliveries) < count:
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    raise AssertionError(f"expected {count} deliveries, got {len(self.deliveries)}")
                self._cond.wait(remaining)
            return list(self.deliveries)

    def quiet_for(self, seconds: float) -> list[Delivery]:
        time.sleep(seconds)
        with self._cond:
            return list(self.deliveries)

    def close(self) -> None:
        self._server.shutdown()
        self._server.server_close()


class SimClient:
    """Thin HTTP helpers over a running simulator."""

    def __init__(self, sim: RunningSimulator) -> None:
        self.sim = sim
        self.url = sim.url
        self.auth = {"Authorization": f"Bearer {API_KEY}"}

    def scenario(self, **fields: Any) -> dict[str, Any]:
        response = requests.put(f"{self.url}/_sim/scenario", json=fields, timeout=10)
        assert response.status_code == 200, response.text
        return dict(response.json())

    def create_raw(self, tool: str, body: Any) -> requests.Response:
        return requests.post(f"{self.url}/v1/{tool}", json=body, headers=self.auth, timeout=30)

    def create(self, tool: str, body: Any) -> str:
        response = self.create_raw(tool, body)
        assert response.status_code == 200, response.text
        return str(response.json()["id"])

    def get(self, kind: str, project_id: str) -> requests.Response:
        return requests.get(f"{self.url}/v1/{kind}-projects/{project_id}", headers=self.auth, timeout=10)

    def wait_status(self, kind: str, project_id: str, timeout: float = 10.0) -> dict[str, Any]:
        return poll(
            lambda: dict(self.get(kind, project_id).json()),
            timeout,
            f"project {project_id} ended",
            until=lambda body: body["status"] in {"complete", "error", "canceled"},
            interval=0.02,
        )

    def sim_project(self, project_id: str) -> dict[str, Any]:
        response = requests.get(f"{self.url}/_sim/projects/{project_id}", timeout=60)
        assert response.status_code == 200, response.text
        return dict(response.json())

    def stats(self) -> dict[str, int]:
        return dict(requests.get(f"{self.url}/_sim/stats", timeout=10).json())


SimFactory = Callable[..., SimClient]
