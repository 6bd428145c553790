"""Telling a client its job ended: one signed POST of the job resource (Standard Webhooks),
delivered from a queue with retries, never inline with the work that ended the job."""

from __future__ import annotations

import contextlib
import functools
import ipaddress
import re
import socket
import ssl
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from concurrent.futures import TimeoutError as FutureTimeout
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote, urlsplit

import certifi

from pipeline.callbacks import callback_secrets, lanes
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


class CallbackFailed(Exception):
    """This attempt did not get a 2xx; worth trying again later."""


class CallbackRefused(Exception):
    """The URL can never be delivered to (for example it points into a private network)."""


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
        return _attempt(job, job.callback_url, task)


def _attempt(job: Job, callback_url: str, task: CallbackTask) -> Job | None:
    settings = get_settings()
    # The name lookup is part of the attempt's budget: a slow name server costs this attempt
    # its few seconds, never more.
    started = time.monotonic()
    destination = resolve_destination(
        callback_url,
        settings.require_https_callbacks,
        settings.callback_allow_private_addresses,
        timeout=settings.callback_timeout_seconds,
    )
    payload = to_resource(job).model_dump_json()
    timestamp = utc_now()
    # The job's own client's secrets: no other client can make a signature this receiver accepts.
    signature = callback_secrets.sign(
        callback_secrets.secrets_for_delivery(job.client_id), task.webhook_id, timestamp, payload
    )
    headers = {
        "Content-Type": "application/json",
        "User-Agent": USER_AGENT,
        "webhook-id": task.webhook_id,
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
    emit(CALLBACKS, outcome="delivered")
    return job_store.record_callback_attempt(
        job.job_id, "delivered", None, bookkeeping.for_callback_attempt("delivered")
    )


# -- where the callback goes: resolved once, vetted, pinned -------------------------------------

# Public-looking IPv6 ranges that lead back to IPv4 (possibly private) addresses, so they are
# refused outright instead of trusting what they embed.
_TRANSLATED_NETWORKS = (
    ipaddress.ip_network("64:ff9b::/96"),  # NAT64 (RFC 6052); is_global is True for it
    ipaddress.ip_network("64:ff9b:1::/48"),  # local-use NAT64 (RFC 8215)
    ipaddress.ip_network("2002::/16"),  # 6to4
    ipaddress.ip_network("2001::/32"),  # Teredo
    ipaddress.ip_network("::/96"),  # IPv4-compatible (deprecated)
)
_HOST_NAME = re.compile(r"^[A-Za-z0-9._-]+$|^[0-9A-Fa-f:.]+$")


@dataclass(frozen=True)
class Destination:
    """A callback URL resolved once: every connection goes to one of `addresses` (already
    vetted), so a second DNS answer (DNS rebinding) can never redirect it."""

    scheme: str
    host: str
    port: int
    target: str
    addresses: tuple[tuple[int, Any], ...]  # (address family, sockaddr) as getaddrinfo gave them

    @property
    def host_header(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        default = 443 if self.scheme == "https" else 80
        return host if self.port == default else f"{host}:{self.port}"


def address_refusal(address: str) -> str | None:
    """Why a callback must not go to this address, or None when it is a public unicast one."""
    ip = ipaddress.ip_address(address.split("%", 1)[0])
    if isinstance(ip, ipaddress.IPv6Address):
        if ip.ipv4_mapped is not None:
            return "an IPv4-mapped IPv6 address"
        if any(ip in network for network in _TRANSLATED_NETWORKS):
            return "an IPv6 address that translates to IPv4 (NAT64, 6to4, Teredo or IPv4-compatible)"
    if not ip.is_global or ip.is_multicast or ip.is_reserved or ip.is_unspecified:
        return "a non-public address"
    return None


WEB_PORTS = (443, 80, 8443)
# Name lookups run here so an attempt can stop waiting for one (getaddrinfo has no timeout).
_LOOKUPS = ThreadPoolExecutor(max_workers=4, thread_name_prefix="callback-dns")


def resolve_destination(
    url: str,
    require_https: bool,
    allow_private: bool,
    resolver: Callable[..., list[Any]] = socket.getaddrinfo,
    timeout: float | None = None,
) -> Destination:
    """SSRF guard: http(s) only (https when deployed), on a web port when deployed, resolved
    once (within `timeout` seconds), and, when deployed, every address the name resolves to must
    be public."""
    parts = urlsplit(url)
    if parts.scheme not in ("https", "http") or not parts.hostname or parts.username or parts.password:
        raise CallbackRefused("callback URL must be http(s) with a host and no credentials")
    if require_https and parts.scheme != "https":
        raise CallbackRefused("callback URL must be https")
    host = parts.hostname
    if not _HOST_NAME.match(host):
        raise CallbackRefused("callback URL host is not a valid host name")
    try:
        port = parts.port or (443 if parts.scheme == "https" else 80)
    except ValueError as exc:
        raise CallbackRefused("callback URL port is invalid") from exc
    if not allow_private and port not in WEB_PORTS:
        # Deployed, receivers listen where web servers do: any other port would let callback URLs
        # probe what listens where.
        raise CallbackRefused("callback URL port must be 443, 80 or 8443")
    lookup = _LOOKUPS.submit(resolver, host, port, type=socket.SOCK_STREAM, proto=socket.IPPROTO_TCP)
    try:
        infos = lookup.result(timeout=timeout)
    except FutureTimeout as exc:
        # The lookup thread finishes by itself (the resolver's own timeout); the attempt ends now.
        raise CallbackFailed(f"cannot resolve {host} within {timeout:g} s") from exc
    except OSError as exc:
        raise CallbackFailed(f"cannot resolve {host}") from exc
    addresses = tuple((int(info[0]), info[4]) for info in infos)
    if not addresses:
        raise CallbackFailed(f"cannot resolve {host}")
    if not allow_private:
        for _, sockaddr in addresses:
            reason = address_refusal(str(sockaddr[0]))
            if reason is not None:
                raise CallbackRefused(f"callback host {host} resolves to {reason}")
    target = quote(parts.path or "/", safe="/%:@!$&'()*+,;=-._~")
    if parts.query:
        target += "?" + quote(parts.query, safe="/%:@!$&'()*+,;=-._~?")
    return Destination(parts.scheme, host, port, target, addresses)


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
    # What the client reads as the bound: the attempt's whole budget, its name lookup included.
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
                raise CallbackFailed(bound)
            raise CallbackFailed("callback URL did not answer with an HTTP status line")
        except (OSError, ValueError) as exc:
            if watchdog.fired or time.monotonic() >= deadline:
                raise CallbackFailed(bound) from exc
            raise CallbackFailed(f"callback attempt failed ({exc.__class__.__name__})") from exc
        finally:
            watchdog.cancel()
            raw.close()
    if time.monotonic() >= deadline:
        raise CallbackFailed(bound)
    raise CallbackFailed(last_error)


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
