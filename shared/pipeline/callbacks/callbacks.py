"""Telling a client its job ended: one signed POST of the job resource (Standard Webhooks),
delivered from a queue with retries, never inline with the work that ended the job."""

from __future__ import annotations

import contextlib
import functools
import re
import socket
import ssl
import threading
import time

import certifi

from pipeline.callbacks import callback_secrets, lanes

# Re-exported (`X as X`): the callbacks function and the tests know this one module.
from pipeline.callbacks.destination import NO_ANSWER as NO_ANSWER
from pipeline.callbacks.destination import WEB_PORTS as WEB_PORTS
from pipeline.callbacks.destination import CallbackFailed as CallbackFailed
from pipeline.callbacks.destination import CallbackRefused as CallbackRefused
from pipeline.callbacks.destination import Destination, no_answer, resolve_destination
from pipeline.callbacks.destination import address_refusal as address_refusal
from pipeline.jobs import bookkeeping
from pipeline.jobs.job_view import to_resource
from pipeline.models.job import Job
from pipeline.models.tasks import CallbackTask
from pipeline.platform.observability import CALLBACKS, about_job, emit
from pipeline.platform.settings import get_settings
from pipeline.platform.timeutil import utc_now
from pipeline.store import jobs as job_store

USER_AGENT = "magic-hour-pipeline-callbacks/1"
# What a client sees as `callback.last_error` when the attempt failed on our side.
INTERNAL_ERROR = "the pipeline could not attempt the callback (internal error); it will retry"


def deliver(task: CallbackTask) -> Job | None:
    """One attempt. Returns the job once its callback is settled, raises CallbackFailed or
    CallbackRefused otherwise."""
    job = job_store.get_job(task.job_id)
    if job is not None:
        about_job(job.job_id, job.client_id)  # every line of this attempt names the client too
    if job is None or job.callback_url is None or job.callback_state != "pending":
        return job  # already delivered, given up, or nothing to deliver
    # From before the name lookup to the end: the whole attempt holds one of its client's places.
    with lanes.place_in_lane(job.client_id):
        send_signed(job.client_id, job.callback_url, task.webhook_id, to_resource(job).model_dump_json())
    emit(CALLBACKS, outcome="delivered")
    return job_store.record_callback_attempt(
        job.job_id, "delivered", None, bookkeeping.for_callback_attempt("delivered")
    )


def send_signed(client_id: str, url: str, webhook_id: str, payload: str) -> None:
    """One signed POST of `payload` to `url`, the one delivery path of job and batch callbacks.
    Raises CallbackFailed unless the receiver answered 2xx, CallbackRefused for a URL that can
    never be delivered to."""
    settings = get_settings()
    # The name lookup is part of the attempt's budget: a slow name server costs this attempt
    # its few seconds, never more.
    started = time.monotonic()
    destination = resolve_destination(
        url,
        settings.require_https_callbacks,
        settings.callback_allow_private_addresses,
        timeout=settings.callback_timeout_seconds,
    )
    timestamp = utc_now()
    # The client's own secrets: no other client can make a signature this receiver accepts.
    signature = callback_secrets.sign(
        callback_secrets.secrets_for_delivery(client_id), webhook_id, timestamp, payload
    )
    headers = {
        "Content-Type": "application/json",
        "User-Agent": USER_AGENT,
        "webhook-id": webhook_id,
        "webhook-timestamp": str(int(timestamp.timestamp())),
        "webhook-signature": signature,
    }
    status = post_once(
        destination,
        payload.encode(),
        headers,
        total_seconds=max(settings.callback_timeout_seconds - (time.monotonic() - started), 0.001),
        connect_seconds=settings.callback_connect_timeout_seconds,
        budget_seconds=settings.callback_timeout_seconds,
    )
    if not 200 <= status < 300:
        raise CallbackFailed(f"callback URL answered HTTP {status}")


# -- one bounded attempt ----------------------------------------------------------------------

# The status line is all we need from an answer; nothing beyond this many bytes is ever read.
MAX_ANSWER_BYTES = 4096
_STATUS_LINE = re.compile(rb"^HTTP/1\.[01] ([0-9]{3})[ \r]")


@functools.cache
def _tls() -> ssl.SSLContext:
    # Loading the CA bundle costs ~15 ms; only the callbacks function ever needs it, and every
    # function that announces a job's end imports this module.
    return ssl.create_default_context(cafile=certifi.where())


def post_once(
    destination: Destination,
    body: bytes,
    headers: dict[str, str],
    total_seconds: float,
    connect_seconds: float,
    budget_seconds: float | None = None,
) -> int:
    """POST `body` and return the answer's status code. The whole attempt (connect, TLS, send,
    answer) ends within `total_seconds` whatever the receiver does: a watchdog shuts the socket
    down at the deadline, so a receiver trickling a byte at a time cannot stretch it, and at most
    MAX_ANSWER_BYTES of its answer are read, so a huge body costs nothing."""
    deadline = time.monotonic() + total_seconds
    # For our logs: the attempt's whole budget, its name lookup included.
    bound = f"no answer within {budget_seconds or total_seconds:g} s"
    request = _request_bytes(destination, body, headers)
    last_error = "no address to connect to"
    for family, sockaddr in destination.addresses:
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            break
        raw = socket.socket(family, socket.SOCK_STREAM)
        watchdog = _Watchdog(raw, remaining)
        try:
            raw.settimeout(min(connect_seconds, remaining))
            try:
                raw.connect(sockaddr)
            except OSError as exc:
                last_error = f"could not connect ({exc.__class__.__name__})"
                continue
            raw.settimeout(max(deadline - time.monotonic(), 0.001))
            stream: socket.socket = raw
            if destination.scheme == "https":
                stream = _tls().wrap_socket(raw, server_hostname=destination.host)
            stream.sendall(request)
            status = _read_status(stream)
            if status is not None:
                return status
            if watchdog.fired or time.monotonic() >= deadline:
                raise no_answer(bound)
            raise no_answer("callback URL did not answer with an HTTP status line")
        except (OSError, ValueError) as exc:
            if watchdog.fired or time.monotonic() >= deadline:
                raise no_answer(bound) from exc
            raise no_answer(f"callback attempt failed ({exc.__class__.__name__})") from exc
        finally:
            watchdog.cancel()
            raw.close()
    if time.monotonic() >= deadline:
        raise no_answer(bound)
    raise no_answer(last_error)


class _Watchdog:
    """Shuts a socket down when the attempt's deadline passes, waking any blocked read."""

    def __init__(self, sock: socket.socket, seconds: float) -> None:
        # A duplicate descriptor of the same socket: shutting it down ends the connection even
        # after the original has been wrapped in TLS, without touching the TLS object's state.
        self._handle = sock.dup()
        self.fired = False
        self._timer = threading.Timer(seconds, self._fire)
        self._timer.daemon = True
        self._timer.start()

    def _fire(self) -> None:
        self.fired = True
        # Not connected yet raises OSError: the connect timeout bounds that part.
        with contextlib.suppress(OSError):
            self._handle.shutdown(socket.SHUT_RDWR)

    def cancel(self) -> None:
        self._timer.cancel()
        self._handle.close()


def _request_bytes(destination: Destination, body: bytes, headers: dict[str, str]) -> bytes:
    lines = [
        f"POST {destination.target} HTTP/1.1",
        f"Host: {destination.host_header}",
        f"Content-Length: {len(body)}",
        "Connection: close",
        *(f"{name}: {value}" for name, value in headers.items()),
    ]
    head = "\r\n".join(lines) + "\r\n\r\n"
    if any(char in value for value in headers.values() for char in "\r\n"):
        raise ValueError("header values must not contain line breaks")
    return head.encode("latin-1") + body


def _read_status(stream: socket.socket) -> int | None:
    answer = b""
    while b"\n" not in answer and len(answer) < MAX_ANSWER_BYTES:
        chunk = stream.recv(MAX_ANSWER_BYTES - len(answer))
        if not chunk:
            break
        answer += chunk
    match = _STATUS_LINE.match(answer)
    return None if match is None else int(match.group(1))
