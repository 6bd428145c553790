"""A local stand-in for API Gateway (REST API): HTTP in, genuine proxy events to the functions.

Routes, which ones need an API key and the answers API Gateway gives on its own (gateway
responses) all come from template.yaml.
"""

from __future__ import annotations

import base64
import contextlib
import json
import sys
import threading
import time
import uuid
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit

from local import sigv4
from local.runtime import Invocation
from local.template import Route

# API Gateway's own payload limit; our functions enforce their smaller limits themselves.
MAX_PAYLOAD_BYTES = 10 * 1024 * 1024
# Lambda's limit on a synchronous invocation's request: the whole event as JSON (headers and a
# base64-encoded binary body included), not just the body. 6 MiB exactly.
LAMBDA_REQUEST_LIMIT_BYTES = 6 * 1024 * 1024
# Events are a few KB more than their body (4/3 of it, base64-encoded): only bodies that could
# reach the limit are worth serialising.
_EVENT_OVERHEAD_CHECK_BYTES = 4 * 1024 * 1024
BINARY_TYPES = ("application/octet-stream", "image/", "audio/", "video/")
# API Gateway's integration timeout (REST API; the default, and what most accounts get): past
# it the caller gets `504` (INTEGRATION_TIMEOUT, "Endpoint request timed out") whatever the
# function does; a function that errs or times out sooner is a `502`. Its clock starts before the
# invocation's (the cold start and the network count), so a function whose Timeout is 29 s (the
# submit function) that runs into it is a 504 deployed, and is one here.
INTEGRATION_TIMEOUT_SECONDS = 29.0


class Gateway:
    def __init__(
        self,
        routes: list[Route],
        gateway_responses: dict[str, dict[str, Any]],
        api_keys: dict[str, str],
        invoke: Callable[[str, dict[str, Any]], Invocation],
        stage: str,
        iam_callers: dict[str, sigv4.IamCaller] | None = None,
        region: str = "us-east-1",
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.routes = routes
        self.clock = clock
        self.gateway_responses = gateway_responses
        self.api_keys = api_keys
        self.invoke = invoke
        self.stage = stage
        self.iam_callers = iam_callers or {}
        self.region = region

    def match(self, method: str, path: str) -> tuple[Route, dict[str, str]] | None:
        for route in self.routes:
            if route.method not in (method, "ANY"):
                continue
            found = route.pattern.match(path)
            if found:
                return route, found.groupdict()
        return None

    def gateway_response(
        self, kind: str, default_status: int, message: str
    ) -> tuple[int, dict[str, str], bytes]:
        spec = self.gateway_responses.get(kind) or self.gateway_responses.get(
            "DEFAULT_4XX" if default_status < 500 else "DEFAULT_5XX", {}
        )
        status = int(spec.get("StatusCode", default_status))
        template = spec.get("ResponseTemplates", {}).get("application/json")
        body = (
            template.replace("$context.error.messageString", json.dumps(message))
            if template
            else json.dumps({"message": message})
        )
        return status, {"Content-Type": "application/json"}, body.encode()

    def build_event(
        self,
        route: Route,
        params: dict[str, str],
        method: str,
        raw_path: str,
        query: str,
        headers: list[tuple[str, str]],
        body: bytes,
        api_key: str | None,
        caller: sigv4.IamCaller | None = None,
    ) -> dict[str, Any]:
        single: dict[str, str] = {}
        multi: dict[str, list[str]] = {}
        for name, value in headers:
            single[name] = value
            multi.setdefault(name, []).append(value)
        content_type = next((value for name, value in headers if name.lower() == "content-type"), "")
        is_binary = any(content_type.startswith(prefix) for prefix in BINARY_TYPES)
        parsed_query = parse_qs(query, keep_blank_values=True)
        request_id = str(uuid.uuid4())
        source_ip = "127.0.0.1"
        signer = sigv4.identity_of(caller) if caller else {}
        event: dict[str, Any] = {
            "resource": route.path,
            "path": raw_path,
            "httpMethod": method,
            "headers": single or None,
            "multiValueHeaders": multi or None,
            "queryStringParameters": {k: v[-1] for k, v in parsed_query.items()} or None,
            "multiValueQueryStringParameters": parsed_query or None,
            "pathParameters": params or None,
            "stageVariables": None,
            "requestContext": {
                "resourceId": "local",
                "resourcePath": route.path,
                "httpMethod": method,
                "extendedRequestId": request_id,
                "requestTime": time.strftime("%d/%b/%Y:%H:%M:%S +0000", time.gmtime()),
                "path": f"/{self.stage}{raw_path}",
                "accountId": "123456789012",
                "protocol": "HTTP/1.1",
                "stage": self.stage,
                "domainPrefix": "localhost",
                "requestTimeEpoch": int(time.time() * 1000),
                "requestId": request_id,
                "identity": {
                    "cognitoIdentityPoolId": None,
                    "accountId": None,
                    "cognitoIdentityId": None,
                    "caller": None,
                    "sourceIp": source_ip,
                    "principalOrgId": None,
                    "accessKey": None,
                    "cognitoAuthenticationType": None,
                    "cognitoAuthenticationProvider": None,
                    "userArn": None,
                    "userAgent": single.get("User-Agent") or single.get("user-agent"),
                    "user": None,
                    "apiKey": api_key if route.api_key_required else None,
                    "apiKeyId": self.api_keys.get(api_key or "") if route.api_key_required else None,
                },
                "domainName": "localhost",
                "apiId": "local",
            },
            "body": (base64.b64encode(body).decode() if is_binary else body.decode("utf-8", "replace"))
            if body
            else None,
            "isBase64Encoded": bool(body) and is_binary,
        }
        event["requestContext"]["identity"].update(signer)
        return event

    def handle(
        self,
        method: str,
        target: str,
        headers: list[tuple[str, str]],
        body: bytes,
    ) -> tuple[int, dict[str, str] | list[tuple[str, str]], bytes]:
        received = self.clock()
        parts = urlsplit(target)
        found = self.match(method, parts.path)
        if found is None:
            return self.gateway_response("MISSING_AUTHENTICATION_TOKEN", 403, "Missing Authentication Token")
        route, params = found
        if len(body) > MAX_PAYLOAD_BYTES:
            return self.gateway_response("REQUEST_TOO_LARGE", 413, "Request Too Long")
        api_key = next((value for name, value in headers if name.lower() == "x-api-key"), None)
        caller = None
        if route.iam and sigv4.authorization_of(headers) is not None:
            # The route's twin on the IAM API: the signature decides, before any code runs.
            target = parts.path + (f"?{parts.query}" if parts.query else "")
            try:
                caller = sigv4.verify(
                    method, target, headers, body, self.iam_callers, self.region, time.time()
                )
            except sigv4.SignatureRefused as refused:
                return self.gateway_response(refused.kind, 403, refused.message)
            if api_key is not None and self.api_keys.get(api_key) != caller.client_id:
                return self.gateway_response(
                    "ACCESS_DENIED", 403, "the API key and the signature belong to different clients"
                )
        elif route.api_key_required and api_key not in self.api_keys:
            return self.gateway_response("INVALID_API_KEY", 403, "Forbidden")
        elif route.iam and not route.api_key_required:
            return self.gateway_response("MISSING_AUTHENTICATION_TOKEN", 403, "the request is not signed")
        event = self.build_event(
            route, params, method, parts.path, parts.query, headers, body, api_key, caller
        )
        if (
            len(body) > _EVENT_OVERHEAD_CHECK_BYTES
            and len(json.dumps(event).encode()) > LAMBDA_REQUEST_LIMIT_BYTES
        ):
            # Lambda refuses the invocation (RequestEntityTooLargeException) before any code runs.
            return self.gateway_response("REQUEST_TOO_LARGE", 413, "Request Too Long")
        result = self.invoke(route.function, event)
        if self.clock() - received >= INTEGRATION_TIMEOUT_SECONDS:
            # Every API function's Timeout is at most 29 s (tests/contract/test_api_timeouts.py),
            # so waiting for the invocation never holds the answer past API Gateway's.
            return self.gateway_response("INTEGRATION_TIMEOUT", 504, "Endpoint request timed out")
        return self._to_http(result)

    def _to_http(self, result: Invocation) -> tuple[int, list[tuple[str, str]], bytes]:
        payload = result.payload
        if not result.ok or not isinstance(payload, dict) or "statusCode" not in payload:
            # What API Gateway answers when the integration fails.
            status, headers, body = self.gateway_response("DEFAULT_5XX", 502, "Internal server error")
            return status, list(headers.items()), body
        headers_out: list[tuple[str, str]] = []
        for name, value in (payload.get("headers") or {}).items():
            headers_out.append((name, str(value)))
        for name, values in (payload.get("multiValueHeaders") or {}).items():
            if name not in (payload.get("headers") or {}):
                headers_out.extend((name, str(value)) for value in values)
        raw = payload.get("body") or ""
        body = base64.b64decode(raw) if payload.get("isBase64Encoded") else str(raw).encode()
        return int(payload["statusCode"]), headers_out, body


def _plain_error(status: int, code: str, message: str) -> tuple[int, dict[str, str], bytes]:
    body = json.dumps({"error": {"code": code, "message": message}}).encode()
    return status, {"Content-Type": "application/json"}, body


def serve(gateway: Gateway, host: str, port: int) -> ThreadingHTTPServer:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"
        # A request line without a version would be answered as HTTP/0.9: no status line, no
        # headers. Nobody speaks 0.9; the JSON error for such a line needs its headers.
        default_request_version = "HTTP/1.1"
        server_version = "local-api-gateway"
        # Headers and body go out in separate writes; without this, Nagle holds the body ~40 ms.
        disable_nagle_algorithm = True

        def _respond(self) -> None:
            declared = self.headers.get("Content-Length") or "0"
            if not (declared.isascii() and declared.isdigit()):
                self.close_connection = True  # the body's end is unknown: nothing more can be read
                self._send(*_plain_error(400, "bad_request", "Content-Length is not a number"))
                return
            length = int(declared)
            if length > MAX_PAYLOAD_BYTES:
                # Answered without reading what API Gateway would never accept either.
                self.close_connection = True
                self._send(*gateway.gateway_response("REQUEST_TOO_LARGE", 413, "Request Too Long"))
                return
            body = self.rfile.read(length) if length else b""
            self._send(*gateway.handle(self.command, self.path, list(self.headers.items()), body))

        def _send(self, status: int, headers: dict[str, str] | list[tuple[str, str]], payload: bytes) -> None:
            self.send_response(status)
            items = headers.items() if isinstance(headers, dict) else headers
            for name, value in items:
                if name.lower() not in ("content-length", "connection", "transfer-encoding"):
                    self.send_header(name, value)
            self.send_header("Content-Length", str(len(payload)))
            if self.close_connection:
                self.send_header("Connection", "close")
            self.end_headers()
            if self.command != "HEAD":
                self.wfile.write(payload)

        def __getattr__(self, name: str) -> Any:
            # Every method, TRACE and made-up ones included, goes to the routes (where an unrouted
            # one gets the template's JSON 404, as deployed), never to the stdlib's HTML 501.
            if name.startswith("do_"):
                return self._respond
            raise AttributeError(name)

        def send_error(self, code: int, message: str | None = None, explain: str | None = None) -> None:  # noqa: ARG002
            # The stdlib answers malformed requests (bad request line, headers too long, ...) with
            # an HTML page; ours are JSON error bodies like every other answer.
            # The stdlib calls this only for requests it cannot parse (its 505 for an unknown HTTP
            # version included): the client's fault, a 4xx.
            status = code if code < 500 else 400
            codes = {404: "not_found", 413: "payload_too_large"}
            self.close_connection = True
            with contextlib.suppress(OSError):  # the client is gone
                self._send(*_plain_error(status, codes.get(status, "bad_request"), message or "bad request"))

        def log_message(self, format: str, *args: Any) -> None:
            pass

    class Server(ThreadingHTTPServer):
        # The stdlib default backlog of 5 resets bursts of concurrent clients.
        request_queue_size = 128
        daemon_threads = True

        def handle_error(self, request: Any, client_address: Any) -> None:
            # A client that hung up (or a stop mid-request) is not worth a traceback.
            if not isinstance(sys.exc_info()[1], ConnectionError):
                super().handle_error(request, client_address)

    server = Server((host, port), Handler)
    threading.Thread(target=server.serve_forever, name="local-api-gateway", daemon=True).start()
    return server
