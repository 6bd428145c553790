"""Ways for integration tests to observe the stack without sleeping: every page of a client's jobs
(a list capped at 100 stops counting once a client has more), the download messages that reached
SQS (counted on the wire by the fault proxy), and a queue that has drained (nothing visible, in
flight or delayed: whatever was going to happen has happened)."""

from __future__ import annotations

import threading
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import requests

from local.resources import client
from tests.polling import poll


def all_jobs(stack: Any, key: str = "key-alpha", status: str | None = None) -> list[dict[str, Any]]:
    jobs: list[dict[str, Any]] = []
    cursor: str | None = None
    while True:
        params = {
            "limit": "100",
            **({"status": status} if status else {}),
            **({"cursor": cursor} if cursor else {}),
        }
        answer = requests.get(f"{stack.api}/v1/jobs", params=params, headers=stack.headers(key), timeout=10)
        answer.raise_for_status()
        page = answer.json()
        jobs.extend(page["jobs"])
        cursor = page["next_cursor"]
        if not cursor:
            return jobs


def download_batches(stack: Any) -> int:
    """SendMessageBatch calls that reached SQS: the pipeline queues downloads only this way."""
    return int(stack.stack.faults.calls.get("SendMessageBatch", 0))


def wait_drained(stack: Any, queue: str = "DownloadQueue", timeout: float = 30.0) -> None:
    sqs = client("sqs", stack.aws, "us-east-1")
    url = stack.stack.resolver.refs[queue]
    names = [
        "ApproximateNumberOfMessages",
        "ApproximateNumberOfMessagesNotVisible",
        "ApproximateNumberOfMessagesDelayed",
    ]
    poll(
        lambda: sqs.get_queue_attributes(QueueUrl=url, AttributeNames=names)["Attributes"],
        timeout,
        f"{queue} drained",
        until=lambda attributes: all(int(attributes.get(name, 0)) == 0 for name in names),
    )


class CallbackReceiver:
    """A client's callback endpoint on this machine. `refuses(n)` says whether the n-th delivery
    (from 0) gets a 500; every other one gets 204. Records (status, headers, body) of each."""

    def __init__(self, path: str, refuses: Callable[[int], bool]) -> None:
        self.deliveries: list[tuple[int, dict[str, str], bytes]] = []
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                status = 500 if refuses(len(receiver.deliveries)) else 204
                receiver.deliveries.append((status, dict(self.headers.items()), body))
                self.send_response(status)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}{path}"

    def accepted(self) -> list[tuple[int, dict[str, str], bytes]]:
        return [delivery for delivery in self.deliveries if delivery[0] < 300]
