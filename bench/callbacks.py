"""`python -m bench.callbacks` (also part of `make bench`): client B's callback latency while
client A's receivers hang, against B alone, in the same run (CONTRACT §1 "Callbacks": one
client's failing receivers never hold back another client's deliveries).

One local stack of its own (4 callback workers, 2 places in each client's lane:
CallbackClientConcurrency, local/stack.py). First B alone: `--quiet` voice jobs, one after
another, each with a callback to a receiver on this machine that answers 204 at once. Then client
A posts `--noisy` jobs (Magic Hour refuses their creates, 422: each ends `failed` at once and owes
its callback, with no render to wait for) whose callbacks go to a receiver that accepts every
connection and never answers (each attempt costs its whole 5 s budget), waits until A's attempts
hang, and B posts the same jobs again. B's latency per callback = its arrival at B's receiver minus the job's
`updated_at` in the delivered body (the job's ending, stamped by the same machine's clock);
ratio = B's median with A hanging / B's median alone. `lane_full` = the callback function's
`Callbacks` metric records of that outcome (A's messages that waited for a place in A's lane).

Bounded: a fixed number of jobs, a timeout on every request, every wait capped.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import socket
import statistics
import tempfile
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import requests

import local  # noqa: F401 - puts shared/ on sys.path
from bench.harness import free_port
from local.config import LocalConfig
from local.stack import LocalStack

VOICE = {"tool": "ai-voice-generator", "input": {"style": {"prompt": "hi", "voice_name": "Elon Musk"}}}
KEYS = {"key-a": "client-a", "key-b": "client-b"}
POLL_S = 0.05


class Receiver:
    """B's endpoint: 204 at once; records each delivery's arrival (wall clock) by job id."""

    def __init__(self) -> None:
        self.arrivals: dict[str, tuple[float, dict[str, Any]]] = {}
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = json.loads(self.rfile.read(int(self.headers.get("Content-Length") or 0)))
                receiver.arrivals.setdefault(body["job_id"], (time.time(), body))
                self.send_response(204)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/hooks/b"


class Hanging:
    """A's endpoints: every connection accepted, held, never read or answered."""

    def __init__(self) -> None:
        self.connections: list[socket.socket] = []
        self.server = socket.socket()
        self.server.bind(("127.0.0.1", 0))
        self.server.listen(256)
        self.port = self.server.getsockname()[1]
        threading.Thread(target=self._serve, daemon=True).start()

    def url(self, index: int) -> str:
        return f"http://127.0.0.1:{self.port}/hooks/a-{index}"

    def _serve(self) -> None:
        while True:
            try:
                connection, _ = self.server.accept()
            except OSError:
                return
            self.connections.append(connection)

    def stop(self) -> None:
        self.server.close()
        for connection in self.connections:
            connection.close()


def _wait(read: Any, timeout: float, what: str) -> Any:
    deadline = time.monotonic() + timeout
    while True:
        value = read()
        if value:
            return value
        if time.monotonic() > deadline:
            raise RuntimeError(f"{what} not reached in {timeout} s")
        time.sleep(POLL_S)


def _post(api: str, key: str, callback_url: str, ok: int = 202) -> str:
    """POST a job as a client would: a loaded machine's 5xx (the gateway's 29 s) is sent again with
    the same Idempotency-Key, so it never makes a second job (bounded)."""
    headers = {"x-api-key": key, "Idempotency-Key": f"bench-{time.time_ns()}"}
    for _ in range(5):
        answer = requests.post(
            f"{api}/v1/jobs", json={**VOICE, "callback_url": callback_url}, headers=headers, timeout=60
        )
        if answer.status_code == ok:
            return str(answer.json().get("job_id", ""))
        if answer.status_code < 500:
            raise RuntimeError(f"POST /v1/jobs answered {answer.status_code}: {answer.text[:200]}")
        time.sleep(1)  # a client's retry delay, not synchronisation
    raise RuntimeError(f"the job was never accepted ({answer.status_code})")


def _quiet_round(api: str, receiver: Receiver, count: int) -> list[float]:
    """B's jobs one after another; each callback's latency from its job's end, in seconds."""
    latencies = []
    for _ in range(count):
        job_id = _post(api, "key-b", receiver.url)
        arrived, body = _wait(lambda job_id=job_id: receiver.arrivals.get(job_id), 120, "B's callback")
        ended = datetime.fromisoformat(body["updated_at"].replace("Z", "+00:00")).timestamp()
        latencies.append(max(0.0, arrived - ended))
    return latencies


def _lane_full(log: Path) -> int:
    return sum('"lane_full"' in line and "Callbacks" in line for line in log.read_text().split("\n"))


def run(noisy: int = 200, quiet: int = 5) -> dict[str, Any]:
    config = dataclasses.replace(
        LocalConfig.from_environment(),
        api_port=free_port(),
        aws_port=free_port(),
        magic_hour_port=free_port(),
        api_keys=dict(KEYS),
        stack_name="bench-callbacks",
    )
    log = Path(tempfile.mkdtemp()) / "functions.log"
    stack = LocalStack(config, function_log=str(log))
    stack.start()
    hanging = Hanging()
    try:
        api = config.api_url

        def scenario(**fields: Any) -> None:
            answer = requests.patch(f"{config.magic_hour_url}/_sim/scenario", json=fields, timeout=5)
            answer.raise_for_status()

        scenario(render_seconds=0.2, output_bytes=1024)
        receiver = Receiver()
        alone = _quiet_round(api, receiver, quiet)
        # A's jobs end at once: Magic Hour refuses each create (422), the job is kept failed and
        # owes its callback, as a rendered one would, without renders and downloads to wait for.
        scenario(create_status=422)
        started = time.monotonic()
        with ThreadPoolExecutor(max_workers=4) as posting:  # the submit function's workers
            list(posting.map(lambda i: _post(api, "key-a", hanging.url(i), ok=422), range(noisy)))
        posted_s = time.monotonic() - started
        scenario(create_status=200)
        _wait(lambda: len(hanging.connections) >= 2, 120, "A's attempts hanging")
        with_noise = _quiet_round(api, receiver, quiet)
        hanging_now = len(hanging.connections)
        alone_ms = statistics.median(alone) * 1000
        noisy_ms = statistics.median(with_noise) * 1000
        return {
            "noisy_jobs": noisy,
            "quiet_jobs": quiet,
            "a_posted_s": round(posted_s, 1),
            "b_alone_ms": {"median": round(alone_ms), "max": round(max(alone) * 1000)},
            "b_with_a_hanging_ms": {"median": round(noisy_ms), "max": round(max(with_noise) * 1000)},
            "ratio": round(noisy_ms / alone_ms, 2) if alone_ms else None,
            "a_attempts_hanging": hanging_now,
            "lane_full": _lane_full(log),
            "failures": [] if len(receiver.arrivals) == 2 * quiet else ["a callback of B missing"],
        }
    finally:
        hanging.stop()
        stack.stop()


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.callbacks", description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--noisy", type=int, default=200, help="client A's jobs, receivers hanging (default 200)"
    )
    parser.add_argument("--quiet", type=int, default=5, help="client B's jobs per round (default 5)")
    options = parser.parse_args()
    print(json.dumps(run(options.noisy, options.quiet), indent=2))


if __name__ == "__main__":
    main()
