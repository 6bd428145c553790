"""Fault injection between the functions and the AWS endpoint, for tests that prove a failure
midway loses nothing.

A small reverse proxy in front of the moto server: the functions' DynamoDB and SQS traffic goes
through it (AWS_ENDPOINT_URL_DYNAMODB / _SQS), and a test can make chosen operations fail the way
AWS does (HTTP 500 InternalServerError), after letting a number of them through.
"""

from __future__ import annotations

import http.client
import threading
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit

_HOP_BY_HOP = {"connection", "keep-alive", "transfer-encoding", "content-length", "host"}


class _Server(ThreadingHTTPServer):
    request_queue_size = 128
    daemon_threads = True


@dataclass
class Fault:
    """Fail `count` calls of `operation` (e.g. "UpdateItem", "SendMessageBatch") after letting
    `after` of them through."""

    operation: str
    count: int
    after: int = 0
    seen: int = 0
    failed: int = 0


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

    def inject(self, operation: str, count: int, after: int = 0) -> Fault:
        fault = Fault(operation, count, after)
        with self._lock:
            self._faults.append(fault)
        return fault

    def clear(self) -> None:
        with self._lock:
            self._faults.clear()

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

            def _forward(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length) if length else b""
                operation = _operation(self.headers.get("X-Amz-Target", ""), body)
                if operation and proxy._should_fail(operation):
                    payload = (
                        b'{"__type":"com.amazonaws.dynamodb.v20120810#InternalServerError",'
                        b'"message":"injected fault"}'
                    )
                    self.send_response(500)
                    self.send_header("Content-Type", "application/x-amz-json-1.0")
                    self.send_header("Content-Length", str(len(payload)))
                    self.end_headers()
                    self.wfile.write(payload)
                    return
                connection = http.client.HTTPConnection(*proxy._upstream, timeout=60)
                headers = {k: v for k, v in self.headers.items() if k.lower() not in _HOP_BY_HOP}
                headers["Host"] = self.headers.get("Host", "")
                connection.request(self.command, self.path, body=body, headers=headers)
                answer = connection.getresponse()
                data = answer.read()
                self.send_response(answer.status)
                for name, value in answer.getheaders():
                    if name.lower() not in _HOP_BY_HOP:
                        self.send_header(name, value)
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)
                connection.close()

            do_GET = do_POST = do_PUT = do_DELETE = do_HEAD = _forward

            def log_message(self, format: str, *args: Any) -> None:
                pass

        return Handler


def _operation(target: str, body: bytes) -> str:
    """The AWS operation of a request: JSON protocols name it in X-Amz-Target, query protocols in
    the form body's Action."""
    if target:
        return target.rsplit(".", 1)[-1]
    if body[:7] == b"Action=":
        return parse_qs(body.decode(errors="replace")).get("Action", [""])[0]
    return ""
