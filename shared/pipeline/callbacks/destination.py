"""Where a callback goes: its URL resolved once (within the attempt's budget), vetted and pinned
(SSRF guard, docs/design.md "Callbacks"), and the outcomes of an attempt as a client reads them."""

from __future__ import annotations

import ipaddress
import re
import socket
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from concurrent.futures import TimeoutError as FutureTimeout
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote, urlsplit

from pipeline.platform.settings import CALLBACK_WEB_PORTS

# What a client reads as `callback.last_error` for every attempt that got no HTTP status: refused,
# timed out, reset, a TLS failure, a name that does not resolve (or resolves where callbacks never
# go), an answer that is not HTTP. One text for all, with no address, DNS answer or timing in it,
# so a callback URL cannot be used to learn what listens where; the detail is in our logs only.
NO_ANSWER = "no HTTP answer"


class CallbackFailed(Exception):
    """This attempt did not get a 2xx; worth trying again later. Its text is what the client
    reads; `detail` is for our logs."""

    def __init__(self, text: str, detail: str | None = None) -> None:
        super().__init__(text)
        self.detail = detail or text


def no_answer(detail: str) -> CallbackFailed:
    return CallbackFailed(NO_ANSWER, detail)


class CallbackRefused(Exception):
    """The URL itself can never be delivered to (its scheme, host, credentials or, deployed, its
    port): saying why tells the client only about what it sent."""


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


WEB_PORTS = CALLBACK_WEB_PORTS
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
        raise no_answer(f"cannot resolve {host} within {timeout:g} s") from exc
    except OSError as exc:
        raise no_answer(f"cannot resolve {host}") from exc
    addresses = tuple((int(info[0]), info[4]) for info in infos)
    if not addresses:
        raise no_answer(f"cannot resolve {host}")
    if not allow_private:
        for _, sockaddr in addresses:
            reason = address_refusal(str(sockaddr[0]))
            if reason is not None:
                # Not a refusal the client could tell apart from a receiver that is down: what a
                # name resolves to is a DNS answer, never shown. It is retried like one, cheaply
                # (a lookup, no connection).
                raise no_answer(f"callback host {host} resolves to {reason}")
    target = quote(parts.path or "/", safe="/%:@!$&'()*+,;=-._~")
    if parts.query:
        target += "?" + quote(parts.query, safe="/%:@!$&'()*+,;=-._~?")
    return Destination(parts.scheme, host, port, target, addresses)
