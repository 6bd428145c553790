"""The AWS fault proxy (docs/local-stack.md): between the functions and the AWS endpoint, for tests that
prove a failure midway loses nothing.

A reverse proxy in front of the moto server. Every AWS call of the functions goes through it
(their AWS_ENDPOINT_URL points here), and it counts each by operation: X-Amz-Target for the JSON
protocols (DynamoDB, SQS, Secrets Manager, ...), the form's Action for the query protocol, and the
REST operation for S3 (local/aws_operations.py). Over HTTP at `/_faults` on the same port:

- `POST {"operation": "UpdateItem", "count": 3, "after": 0}`: the next `count` calls of that
  operation, after letting `after` through, fail as AWS fails them: HTTP 500 in the service's own
  error format (JSON `InternalServerError` for DynamoDB and the other JSON services, S3's XML).
- `GET`: `{"calls": {operation: seen}, "faults": [{..., "failed", "left"}]}`.
- `DELETE`: clears the faults (the counts of calls stay: tests compare before and after).
"""

from __future__ import annotations

import http.client
import json
import threading
from dataclasses import asdict, dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import urlsplit

from local.aws_operations import internal_error, operation

CONTROL_PATH = "/_faults"
_HOP_BY_HOP = {"connection", "keep-alive", "transfer-encoding", "content-length", "host", "expect"}


class _Server(ThreadingHTTPServer):
    request_queue_size = 128
    daemon_threads = True


@dataclass
class Fault:
    """Fail `count` calls of `operation` (e.g. "UpdateItem", "PutObject") after letting `after`
    of them through."""

    operation: str
    count: int
    after: int = 0
    seen: int = 0
    failed: int = 0

    def describe(self) -> dict[str, Any]:
        return {**asdict(self), "left": self.count - self.failed}


def parse_fault(raw: bytes) -> Fault:
    """A fault from the control API's JSON body; ValueError says what is wrong with it."""
    try:
        body = json.loads(raw or b"null")
    except ValueError:
        raise ValueError("the body is not JSON") from None
    if not isinstance(body, dict):
        raise ValueError('expected {"operation": str, "count": int, "after": int}')
    unknown = set(body) - {"operation", "count", "after"}
    if unknown:
        raise ValueError(f"unknown fields: {', '.join(sorted(unknown))}")
    name, count, after = body.get("operation"), body.get("count"), body.get("after", 0)
    if not isinstance(name, str) or not name.strip() or len(name) > 128:
        raise ValueError("operation must be an AWS operation name, e.g. UpdateItem")
    for field, value, least in (("count", count, 1), ("after", after, 0)):
        if isinstance(value, bool) or not isinstance(value, int) or value < least:
            raise ValueError(f"{field} must be an integer >= {least}")
    return Fault(name.strip(), int(count), int(after))  # type: ignore[arg-type]


class FaultProxy:
    def __init__(self, upstream: str, host: str = "127.0.0.1", port: int = 0) -> None:
        parts = urlsplit(upstream)
        self._upstream = (parts.hostname or "127.0.0.1", parts.port or 80)
        self._faults: list[Fault] = []
        # Calls seen per operation, so tests can count what reached AWS (e.g. SendMessageBatch).
        self.calls: dict[str, int] = {}
        self._lock = threading.Lock()
        self._server = _Server((host, port), self._handler())
        self.url = f"http://{host}:{self._server.server_address[1]}"

    def start(self) -> None:
        threading.Thread(target=self._server.serve_forever, name="fault-proxy", daemon=True).start()

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()

    def inject(self, operation: str, count: int, after: int = 0) -> Fault:
        fault = Fault(operation, count, after)
        with self._lock:
            self._faults.append(fault)
        return fault

    def clear(self) -> None:
        with self._lock:
            self._faults.clear()

    def state(self) -> dict[str, Any]:
        with self._lock:
            return {"calls": dict(self.calls), "faults": [fault.describe() for fault in self._faults]}

    def _should_fail(self, operation: str) -> bool:
        with self._lock:
            self.calls[operation] = self.calls.get(operation, 0) + 1
            for fault in self._faults:
                if fault.operation != operation or fault.failed >= fault.count:
                    continue
                fault.seen += 1
                if fault.seen > fault.after:
                    fault.failed += 1
                    return True
        return False

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        proxy = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def _body(self) -> bytes:
                if "chunked" in self.headers.get("Transfer-Encoding", "").lower():
                    chunks: list[bytes] = []
                    while True:
                        size = int(self.rfile.readline().split(b";")[0].strip() or b"0", 16)
                        if size == 0:
                            while self.rfile.readline() not in (b"\r\n", b"\n", b""):
                                pass  # trailers
                            return b"".join(chunks)
                        chunks.append(self.rfile.read(size))
                        self.rfile.readline()
                length = int(self.headers.get("Content-Length") or 0)
                return self.rfile.read(length) if length else b""

            def _send(self, status: int, headers: dict[str, str], body: bytes) -> None:
                self.send_response(status)
                for name, value in headers.items():
                    self.send_header(name, value)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                if self.command != "HEAD":
                    self.wfile.write(body)

            def _control(self, body: bytes) -> None:
                json_type = {"Content-Type": "application/json"}
                if self.command == "POST":
                    try:
                        fault = parse_fault(body)
                    except ValueError as error:
                        payload = {"error": {"code": "validation_failed", "message": str(error)}}
                        self._send(400, json_type, json.dumps(payload).encode())
                        return
                    with proxy._lock:
                        proxy._faults.append(fault)
                    self._send(201, json_type, json.dumps(fault.describe()).encode())
                elif self.command == "GET":
                    self._send(200, json_type, json.dumps(proxy.state()).encode())
                elif self.command == "DELETE":
                    proxy.clear()
                    self._send(200, json_type, json.dumps(proxy.state()).encode())
                else:
                    payload = {"error": {"code": "method_not_allowed", "message": "GET, POST or DELETE"}}
                    self._send(405, {**json_type, "Allow": "GET, POST, DELETE"}, json.dumps(payload).encode())

            def _forward(self) -> None:
                body = self._body()
                parts = urlsplit(self.path)
                if parts.path.rstrip("/") == CONTROL_PATH:
                    self._control(body)
                    return
                lowered = {name.lower(): value for name, value in self.headers.items()}
                protocol, name = operation(self.command, parts.path, parts.query, lowered, body)
                if name and proxy._should_fail(name):
                    self._send(500, *internal_error(protocol, lowered.get("x-amz-target", "")))
                    return
                connection = http.client.HTTPConnection(*proxy._upstream, timeout=120)
                try:
                    headers = {k: v for k, v in self.headers.items() if k.lower() not in _HOP_BY_HOP}
                    headers["Host"] = self.headers.get("Host", "")
                    connection.request(self.command, self.path, body=body, headers=headers)
                    answer = connection.getresponse()
                    data = answer.read()
                    self.send_response(answer.status)
                    for header, value in answer.getheaders():
                        if header.lower() not in _HOP_BY_HOP:
                            self.send_header(header, value)
                    # A HEAD answer has no body but its Content-Length is the object's size.
                    length = answer.getheader("Content-Length") if self.command == "HEAD" else None
                    self.send_header("Content-Length", length or str(len(data)))
                    self.end_headers()
                    if self.command != "HEAD":
                        self.wfile.write(data)
                finally:
                    connection.close()

            do_GET = do_POST = do_PUT = do_DELETE = do_HEAD = do_PATCH = _forward

            def log_message(self, format: str, *args: Any) -> None:
                pass

        return Handler
