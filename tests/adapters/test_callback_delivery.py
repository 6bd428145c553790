"""One callback attempt is bounded and goes only where it was vetted (pipeline.callbacks.callbacks):
hostile receivers on 127.0.0.1 sockets, a fake resolver for DNS."""

from __future__ import annotations

import contextlib
import re
import socket
import ssl
import struct
import threading
import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from pipeline.callbacks import callbacks
from pipeline.callbacks.callbacks import (
    MAX_ANSWER_BYTES,
    NO_ANSWER,
    CallbackFailed,
    CallbackRefused,
    Destination,
    address_refusal,
    post_once,
    resolve_destination,
)


@contextlib.contextmanager
def no_http_answer(detail: str) -> Iterator[None]:
    """The attempt failed without an HTTP status: the client reads NO_ANSWER whatever failed, and
    only our logs get what did (`detail`)."""
    with pytest.raises(CallbackFailed) as failed:
        yield
    assert str(failed.value) == NO_ANSWER
    assert re.search(detail, failed.value.detail), failed.value.detail


class Receiver:
    """A TCP server whose answer is scripted: `behave(connection)` runs once the request is in."""

    def __init__(self, behave: Callable[[socket.socket], None], tls: ssl.SSLContext | None = None) -> None:
        self.behave = behave
        self.tls = tls
        self.requests: list[bytes] = []
        self.sent = 0
        self.server = socket.socket()
        self.server.bind(("127.0.0.1", 0))
        self.server.listen(8)
        self.port = int(self.server.getsockname()[1])
        self.closed = threading.Event()
        threading.Thread(target=self._serve, daemon=True).start()

    def _serve(self) -> None:
        while True:
            try:
                connection, _ = self.server.accept()
            except OSError:
                return
            threading.Thread(target=self._one, args=(connection,), daemon=True).start()

    def _one(self, connection: socket.socket) -> None:
        if self.tls is not None:
            try:
                connection = self.tls.wrap_socket(connection, server_side=True)
            except OSError:  # the client refused our certificate
                connection.close()
                return
        with connection:
            data = b""
            connection.settimeout(10)
            try:
                while b"\r\n\r\n" not in data:
                    chunk = connection.recv(65536)
                    if not chunk:
                        return
                    data += chunk
                self.requests.append(data)
                self.behave(connection)
            except OSError:
                pass
            finally:
                self.closed.set()

    def send(self, connection: socket.socket, data: bytes) -> None:
        connection.sendall(data)
        self.sent += len(data)

    def destination(self, host: str = "hooks.example") -> Destination:
        return Destination(
            "http", host, self.port, "/hook?x=1", ((socket.AF_INET, ("127.0.0.1", self.port)),)
        )


@pytest.fixture
def receivers() -> Iterator[Callable[..., Receiver]]:
    made: list[Receiver] = []

    def make(
        behave: Callable[[Receiver, socket.socket], None], tls: ssl.SSLContext | None = None
    ) -> Receiver:
        holder: list[Receiver] = []
        receiver = Receiver(lambda connection: behave(holder[0], connection), tls)
        holder.append(receiver)
        made.append(receiver)
        return receiver

    yield make
    for receiver in made:
        receiver.server.close()


def _post(destination: Destination, total: float = 1.5) -> int:
    return post_once(
        destination, b'{"ok":true}', {"webhook-id": "msg_1"}, total_seconds=total, connect_seconds=1
    )


def test_status_of_a_plain_answer_and_the_request_sent(receivers) -> None:
    receiver = receivers(lambda r, c: r.send(c, b"HTTP/1.1 204 No Content\r\nContent-Length: 0\r\n\r\n"))
    assert _post(receiver.destination()) == 204
    (request,) = receiver.requests
    head = request.split(b"\r\n\r\n")[0].decode()
    assert head.startswith("POST /hook?x=1 HTTP/1.1\r\n")
    # The vetted address is dialled; the name only travels in the Host header.
    assert f"Host: hooks.example:{receiver.port}" in head
    assert "webhook-id: msg_1" in head


def test_a_huge_answer_costs_a_few_kb_and_no_time(receivers) -> None:
    def huge(r: Receiver, connection: socket.socket) -> None:
        r.send(connection, b"HTTP/1.1 200 OK\r\nContent-Length: 314572800\r\n\r\n")
        chunk = b"x" * 65536
        for _ in range(4800):  # 300 MB, if anyone read it
            r.send(connection, chunk)

    receiver = receivers(huge)
    started = time.monotonic()
    assert _post(receiver.destination()) == 200
    assert time.monotonic() - started < 1.0
    # We hung up after the status line: the receiver could not push its 300 MB.
    assert receiver.closed.wait(5)
    assert receiver.sent < 50 * 1024 * 1024


def test_a_receiver_trickling_bytes_gets_one_bounded_attempt(receivers) -> None:
    def trickle(r: Receiver, connection: socket.socket) -> None:
        for byte in b"HTTP/1.1 200 OK\r\n\r\n":
            r.send(connection, bytes([byte]))
            time.sleep(0.3)  # the hostile receiver's pace, not synchronisation

    receiver = receivers(trickle)
    started = time.monotonic()
    with no_http_answer(r"no answer within 1\.5 s"):
        _post(receiver.destination())
    assert time.monotonic() - started < 2.5


def test_a_receiver_that_never_answers_gets_one_bounded_attempt(receivers) -> None:
    receiver = receivers(lambda r, c: time.sleep(5))
    started = time.monotonic()
    with no_http_answer("no answer within"):
        _post(receiver.destination(), total=1.0)
    assert time.monotonic() - started < 2.0


def test_garbage_and_errors_are_failed_attempts(receivers) -> None:
    garbage = receivers(lambda r, c: r.send(c, b"SSH-2.0-OpenSSH\r\n"))
    with no_http_answer("status line"):
        _post(garbage.destination())
    server_error = receivers(lambda r, c: r.send(c, b"HTTP/1.0 500 Oops\r\n\r\n"))
    assert _post(server_error.destination()) == 500
    # Nobody listening: a failed attempt, never an exception of another kind.
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    closed = Destination("http", "h", port, "/", ((socket.AF_INET, ("127.0.0.1", port)),))
    with no_http_answer("could not connect"):
        _post(closed)


def test_no_more_than_max_answer_bytes_are_read(receivers, monkeypatch: pytest.MonkeyPatch) -> None:
    read: list[int] = []
    real_recv = socket.socket.recv

    def counting_recv(self: socket.socket, size: int, *args: Any) -> bytes:
        data = real_recv(self, size, *args)
        if threading.current_thread() is threading.main_thread():  # ours, not the receiver's
            read.append(len(data))
        return data

    monkeypatch.setattr(socket.socket, "recv", counting_recv)
    # A status "line" that never ends.
    receiver = receivers(lambda r, c: r.send(c, b"HTTP/1.1 200 " + b"x" * 1_000_000))
    assert _post(receiver.destination()) == 200
    assert sum(read) <= MAX_ANSWER_BYTES


# -- where the callback may go ----------------------------------------------------------------


@pytest.mark.parametrize(
    ("address", "refused"),
    [
        ("8.8.8.8", False),
        ("2606:4700:4700::1111", False),
        ("10.1.2.3", True),
        ("127.0.0.1", True),
        ("169.254.169.254", True),  # instance metadata
        ("100.64.0.1", True),  # carrier-grade NAT
        ("192.168.1.1", True),
        ("0.0.0.0", True),
        ("224.0.0.1", True),
        ("::1", True),
        ("fd00::1", True),
        ("fe80::1%eth0", True),
        ("64:ff9b::a9fe:a9fe", True),  # NAT64 of 169.254.169.254
        ("64:ff9b::808:808", True),  # NAT64 of a public address: still refused, it is a translator
        ("64:ff9b:1::a00:1", True),
        ("::ffff:8.8.8.8", True),  # IPv4-mapped
        ("::ffff:127.0.0.1", True),
        ("::8.8.8.8", True),  # IPv4-compatible
        ("2002:a00:1::", True),  # 6to4 of 10.0.0.1
        ("2001:0:4136:e378:8000:63bf:3fff:fdd2", True),  # Teredo
    ],
)
def test_address_vetting(address: str, refused: bool) -> None:
    assert (address_refusal(address) is not None) is refused


@pytest.mark.parametrize(
    ("address", "reason"),
    [
        ("::ffff:8.8.8.8", "IPv4-mapped"),
        ("64:ff9b::808:808", "NAT64"),
        ("::8.8.8.8", "IPv4-compatible"),
        ("2002:808:808::", "6to4"),
    ],
)
def test_translated_ipv6_is_refused_for_what_it_is(address: str, reason: str) -> None:
    # Public IPv4 inside: refused because the range leads to IPv4, not for its embedded address.
    assert reason in (address_refusal(address) or "")


def _resolver(*answers: list[str]) -> tuple[Callable[..., list[Any]], list[str]]:
    calls: list[str] = []
    queue = list(answers)

    def resolve(host: str, port: int, **_: Any) -> list[Any]:
        calls.append(host)
        addresses = queue.pop(0) if len(queue) > 1 else queue[0]
        return [
            (socket.AF_INET6 if ":" in a else socket.AF_INET, socket.SOCK_STREAM, 6, "", (a, port))
            for a in addresses
        ]

    return resolve, calls


def test_a_name_with_any_private_address_is_never_dialled_nor_named_to_the_client() -> None:
    resolve, _ = _resolver(["93.184.215.14", "10.0.0.5"])
    # What a name resolves to is a DNS answer: the client reads what an unreachable receiver gives.
    with no_http_answer("non-public"):
        resolve_destination("https://hooks.example/h", True, False, resolver=resolve)


def test_destination_is_resolved_once_and_pinned_to_the_vetted_address() -> None:
    # A rebinding DNS server: public the first time, metadata service afterwards.
    resolve, calls = _resolver(["93.184.215.14"], ["169.254.169.254"])
    destination = resolve_destination("https://hooks.example:8443/h/i?t=1", True, False, resolver=resolve)
    assert calls == ["hooks.example"]
    assert destination.addresses == ((socket.AF_INET, ("93.184.215.14", 8443)),)
    assert destination.host_header == "hooks.example:8443"
    assert destination.target == "/h/i?t=1"


def test_deliver_dials_the_address_it_vetted_without_resolving_again(monkeypatch, receivers) -> None:
    receiver = receivers(lambda r, c: r.send(c, b"HTTP/1.1 200 OK\r\n\r\n"))
    resolutions: list[str] = []

    def once(host: str, port: int, **_: Any) -> list[Any]:
        resolutions.append(host)
        return [(socket.AF_INET, socket.SOCK_STREAM, 6, "", ("127.0.0.1", port))]

    monkeypatch.setattr(callbacks.socket, "getaddrinfo", once)
    destination = resolve_destination(
        f"http://rebinding.example:{receiver.port}/h", False, True, resolver=callbacks.socket.getaddrinfo
    )
    assert _post(destination) == 200
    assert resolutions == ["rebinding.example"]
    assert b"Host: rebinding.example:" in receiver.requests[0]


@pytest.mark.parametrize(
    ("url", "require_https", "message"),
    [
        ("ftp://hooks.example/h", False, "http"),
        ("http://hooks.example/h", True, "https"),
        ("https://user:pw@hooks.example/h", True, "credentials"),
        ("https:///h", True, "host"),
    ],
)
def test_urls_that_can_never_be_delivered(url: str, require_https: bool, message: str) -> None:
    resolve, calls = _resolver(["93.184.215.14"])
    with pytest.raises(CallbackRefused, match=message):
        resolve_destination(url, require_https, False, resolver=resolve)
    assert calls == []


def test_an_unresolvable_name_is_a_failed_attempt_not_a_refusal() -> None:
    def broken(*_: Any, **__: Any) -> list[Any]:
        raise socket.gaierror("no such name")

    with pytest.raises(CallbackFailed):
        resolve_destination("https://hooks.example/h", True, False, resolver=broken)


@pytest.mark.parametrize("port", [22, 6379, 8080, 9000])
def test_deployed_a_callback_port_other_than_the_web_ports_is_refused_unresolved(port: int) -> None:
    resolve, calls = _resolver(["93.184.215.14"])
    with pytest.raises(CallbackRefused, match="443, 80 or 8443"):
        resolve_destination(f"https://hooks.example:{port}/h", True, False, resolver=resolve)
    assert calls == []  # not even looked up: nothing learnt about what listens where


@pytest.mark.parametrize(
    "url", ["https://hooks.example/h", "http://hooks.example/h", "https://hooks.example:8443/h"]
)
def test_deployed_the_web_ports_are_allowed(url: str) -> None:
    resolve, _ = _resolver(["93.184.215.14"])
    assert resolve_destination(url, False, False, resolver=resolve).port in (443, 80, 8443)


def test_locally_any_port_is_allowed() -> None:
    resolve, _ = _resolver(["127.0.0.1"])
    assert resolve_destination("http://127.0.0.1:54321/h", False, True, resolver=resolve).port == 54321


def test_a_slow_name_server_costs_the_attempt_its_budget_not_more() -> None:
    release = threading.Event()

    def slow(*_: Any, **__: Any) -> list[Any]:
        release.wait(10)  # a name server that answers after 10 s
        return [(socket.AF_INET, socket.SOCK_STREAM, 6, "", ("93.184.215.14", 443))]

    began = time.monotonic()
    try:
        with no_http_answer(r"within 0\.3 s"):
            resolve_destination("https://hooks.example/h", True, False, resolver=slow, timeout=0.3)
        assert time.monotonic() - began < 2
    finally:
        release.set()


# -- https: the certificate is checked against the name, the connection goes to the address ----


def _certificate_authority(tmp_path: Any) -> tuple[ssl.SSLContext, ssl.SSLContext]:
    """A throwaway CA and a server certificate for hooks.example: (client context, server context)."""
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    def name(common: str) -> x509.Name:
        return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common)])

    now = datetime.now(UTC)
    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca = (
        x509.CertificateBuilder()
        .subject_name(name("test ca"))
        .issuer_name(name("test ca"))
        .public_key(ca_key.public_key())
        .serial_number(1)
        .not_valid_before(now - timedelta(hours=1))
        .not_valid_after(now + timedelta(hours=1))
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=False,
                content_commitment=False,
                key_encipherment=False,
                data_encipherment=False,
                key_agreement=False,
                key_cert_sign=True,
                crl_sign=True,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(ca_key.public_key()), critical=False)
        .sign(ca_key, hashes.SHA256())
    )
    key = ec.generate_private_key(ec.SECP256R1())
    certificate = (
        x509.CertificateBuilder()
        .subject_name(name("hooks.example"))
        .issuer_name(ca.subject)
        .public_key(key.public_key())
        .serial_number(2)
        .not_valid_before(now - timedelta(hours=1))
        .not_valid_after(now + timedelta(hours=1))
        .add_extension(x509.SubjectAlternativeName([x509.DNSName("hooks.example")]), critical=False)
        .add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()), critical=False
        )
        .sign(ca_key, hashes.SHA256())
    )
    pem = serialization.Encoding.PEM
    (tmp_path / "server.pem").write_bytes(
        certificate.public_bytes(pem)
        + key.private_bytes(pem, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    )
    client = ssl.create_default_context(cadata=ca.public_bytes(pem).decode())
    server = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    server.load_cert_chain(tmp_path / "server.pem")
    return client, server


@pytest.fixture
def tls(tmp_path: Any, monkeypatch: pytest.MonkeyPatch) -> ssl.SSLContext:
    client, server = _certificate_authority(tmp_path)
    monkeypatch.setattr(callbacks, "_tls", lambda: client)
    return server


def _tls_receiver(
    receivers: Any, server: ssl.SSLContext, answer: Callable[[Receiver, socket.socket], None]
) -> Receiver:
    return receivers(answer, tls=server)


def _https(receiver: Receiver, host: str) -> Destination:
    return Destination(
        "https", host, receiver.port, "/hook", ((socket.AF_INET, ("127.0.0.1", receiver.port)),)
    )


def test_https_to_the_pinned_address_with_the_certificate_checked_against_the_name(receivers, tls) -> None:
    receiver = _tls_receiver(receivers, tls, lambda r, c: r.send(c, b"HTTP/1.1 202 Accepted\r\n\r\n"))
    assert _post(_https(receiver, "hooks.example")) == 202
    assert f"Host: hooks.example:{receiver.port}".encode() in receiver.requests[0]
    # The same address under another name: its certificate does not match, nothing is sent.
    with no_http_answer("SSLCertVerificationError"):
        _post(_https(receiver, "other.example"))
    assert len(receiver.requests) == 1


def test_https_trickle_is_cut_at_the_deadline(receivers, tls) -> None:
    def trickle(r: Receiver, connection: socket.socket) -> None:
        for byte in b"HTTP/1.1 200 OK\r\n\r\n":
            r.send(connection, bytes([byte]))
            time.sleep(0.3)

    receiver = _tls_receiver(receivers, tls, trickle)
    started = time.monotonic()
    with no_http_answer("no answer within"):
        _post(_https(receiver, "hooks.example"), total=1.0)
    assert time.monotonic() - started < 2.0


# -- what the client reads: the same text whatever failed ---------------------------------------


def _reset(r: Receiver, connection: socket.socket) -> None:
    # SO_LINGER 0: closing sends a TCP reset instead of a clean end.
    connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))


def test_every_failure_without_a_status_reads_the_same_and_names_nothing(receivers, tls) -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        closed_port = probe.getsockname()[1]
    kinds: dict[str, Callable[[], int]] = {
        "refused": lambda: _post(
            Destination("http", "h", closed_port, "/", ((socket.AF_INET, ("127.0.0.1", closed_port)),))
        ),
        "timed out": lambda: _post(receivers(lambda r, c: time.sleep(3)).destination(), total=0.5),
        "reset": lambda: _post(receivers(_reset).destination()),
        "not HTTP": lambda: _post(receivers(lambda r, c: r.send(c, b"SSH-2.0-OpenSSH\r\n")).destination()),
        "TLS failure": lambda: _post(
            _https(_tls_receiver(receivers, tls, lambda r, c: None), "other.example")
        ),
    }
    read: dict[str, str] = {}
    details: dict[str, str] = {}
    for kind, attempt in kinds.items():
        with pytest.raises(CallbackFailed) as failed:
            attempt()
        read[kind], details[kind] = str(failed.value), failed.value.detail
    assert set(read.values()) == {NO_ANSWER}, read
    # The detail tells them apart (for us): a reset or refusal is not a timeout.
    assert len(set(details.values())) >= 4, details
    assert all(str(closed_port) not in text and "127.0.0.1" not in text for text in read.values())
