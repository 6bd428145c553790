"""How the Magic Hour client maps answers and transport failures (pipeline.magic_hour.client).

Answers and urllib3's own exceptions come from a scripted pool at the seam; the transport
failures that decide whether a create may have happened (refused, silent, cut off, reset) are
also produced for real, by sockets on this machine.
"""

from __future__ import annotations

import json
import socket
import threading
from collections.abc import Callable, Iterator
from typing import Any

import pytest
import urllib3
from urllib3.connection import HTTPSConnection
from urllib3.exceptions import (
    ConnectTimeoutError,
    NameResolutionError,
    NewConnectionError,
    ProtocolError,
    ReadTimeoutError,
)

from pipeline.magic_hour.client import DEFAULT_RETRY_AFTER_SECONDS, CreatedProject, MagicHourClient
from pipeline.magic_hour.errors import (
    MagicHourAuthFailed,
    MagicHourError,
    MagicHourNotFound,
    MagicHourOutcomeUnknown,
    MagicHourPaymentRequired,
    MagicHourPlanRestricted,
    MagicHourRateLimited,
    MagicHourRejected,
    MagicHourUnavailable,
)
from tests.magic_hour_answers import BASE_URL, FakePool, client_with, create, response


def test_create_success_returns_project_id_and_credits() -> None:
    client, adapter = client_with(response(200, {"id": "cm2fphlo3000dmfhu8m0dh63z", "credits_charged": 450}))
    created = client.create_project("face-swap", {"start_seconds": 0, "name": "x [job_a]"})
    assert created == CreatedProject("cm2fphlo3000dmfhu8m0dh63z", 450)
    sent = adapter.sent[0]
    assert sent.method == "POST"
    assert sent.url == "https://api.magichour.test/v1/face-swap"
    assert json.loads(sent.body or b"") == {"start_seconds": 0, "name": "x [job_a]"}
    timeout = sent.options["timeout"]
    assert (timeout.connect_timeout, timeout.read_timeout) == (1.0, 2.0)
    # Never retried, never redirected by the library: a second send could be a second charge.
    assert sent.options["retries"] is False
    assert sent.options["redirect"] is False


def test_create_with_non_integer_credits_gives_none() -> None:
    assert create(response(200, {"id": "p1", "credits_charged": "450"})).credits_charged is None


def test_authorization_header_carries_the_bearer_key_from_the_callable() -> None:
    keys = iter(["first-key", "rotated-key"])
    client, adapter = client_with(
        response(200, {"id": "p1"}), response(200, {"id": "p2"}), key=lambda: next(keys)
    )
    client.create_project("face-swap", {})
    client.create_project("face-swap", {})
    assert adapter.sent[0].headers["Authorization"] == "Bearer first-key"
    # The key is asked for on every call, so a rotated secret is picked up.
    assert adapter.sent[1].headers["Authorization"] == "Bearer rotated-key"


def test_redirects_are_not_followed() -> None:
    redirect = response(302, headers={"Location": "https://elsewhere.test/v1/face-swap"}, reason="Found")
    client, adapter = client_with(redirect, response(200, {"id": "should-not-be-reached"}))
    with pytest.raises(MagicHourError) as caught:
        client.create_project("face-swap", {})
    assert caught.value.status_code == 302
    assert len(adapter.sent) == 1
    assert adapter.sent[0].headers["Authorization"] == "Bearer mh-key"


def test_get_and_delete_use_the_kind_project_paths() -> None:
    client, adapter = client_with(response(200, {"id": "p1", "status": "complete"}), response(204))
    assert client.get_project("image", "p1") == {"id": "p1", "status": "complete"}
    client.delete_project("audio", "p2")
    assert (adapter.sent[0].method, adapter.sent[0].url) == (
        "GET",
        "https://api.magichour.test/v1/image-projects/p1",
    )
    assert (adapter.sent[1].method, adapter.sent[1].url) == (
        "DELETE",
        "https://api.magichour.test/v1/audio-projects/p2",
    )


@pytest.mark.parametrize("status", [400, 422])
def test_400_and_422_are_rejections_with_magic_hours_message(status: int) -> None:
    with pytest.raises(MagicHourRejected) as caught:
        create(response(status, {"message": "start_seconds is required"}))
    assert caught.value.message == "start_seconds is required"
    assert caught.value.status_code == status


def test_402_is_payment_required() -> None:
    with pytest.raises(MagicHourPaymentRequired) as caught:
        create(response(402, {"message": "Not enough credits"}))
    assert caught.value.message == "Not enough credits"


def test_401_is_an_auth_failure() -> None:
    with pytest.raises(MagicHourAuthFailed) as caught:
        create(response(401, {"message": "Unauthorized"}))
    assert caught.value.status_code == 401


def test_403_is_the_plan_not_the_key() -> None:
    plan = "Your key is valid but the model, resolution, or feature is not available on your plan"
    with pytest.raises(MagicHourPlanRestricted) as caught:
        create(response(403, {"message": plan}))
    assert not isinstance(caught.value, MagicHourAuthFailed)
    assert caught.value.status_code == 403
    assert caught.value.message == plan


def test_404_is_not_found() -> None:
    client, _ = client_with(response(404, {"message": "Not Found"}))
    with pytest.raises(MagicHourNotFound):
        client.get_project("video", "missing")


def test_error_without_json_body_uses_the_reason_phrase() -> None:
    with pytest.raises(MagicHourRejected) as caught:
        create(response(400, raw_body=b"<html>bad</html>", reason="Bad Request"))
    assert caught.value.message == "Bad Request"


def test_429_with_retry_after_carries_it() -> None:
    with pytest.raises(MagicHourRateLimited) as caught:
        create(response(429, {"message": "Too many requests"}, headers={"Retry-After": "17"}))
    assert caught.value.retry_after_seconds == 17
    assert caught.value.status_code == 429


@pytest.mark.parametrize(
    "headers",
    [
        {},
        {"Retry-After": "Wed, 21 Oct 2026 07:28:00 GMT"},
        {"Retry-After": "-3"},
        {"Retry-After": "\u00b2"},  # a latin-1 header byte that str.isdigit() calls a digit
    ],
)
def test_429_without_a_usable_retry_after_uses_the_default(headers: dict[str, str]) -> None:
    with pytest.raises(MagicHourRateLimited) as caught:
        create(response(429, {"message": "Too many requests"}, headers=headers))
    assert caught.value.retry_after_seconds == DEFAULT_RETRY_AFTER_SECONDS


@pytest.mark.parametrize("status", [500, 503])
def test_500_and_503_are_unavailable(status: int) -> None:
    with pytest.raises(MagicHourUnavailable) as caught:
        create(response(status, {"message": "Internal error"}))
    assert caught.value.status_code == status


@pytest.mark.parametrize("status", [502, 504])
def test_a_gateway_error_is_an_unknown_outcome(status: int) -> None:
    # A proxy can fail after Magic Hour committed the project: never retried as "nothing created".
    with pytest.raises(MagicHourOutcomeUnknown) as caught:
        create(response(status, {"message": "Bad gateway"}))
    assert caught.value.status_code == status


def test_read_timeout_is_outcome_unknown() -> None:
    pool = urllib3.HTTPSConnectionPool("api.magichour.test", 443)
    with pytest.raises(MagicHourOutcomeUnknown):
        create(ReadTimeoutError(pool, "/v1/face-swap", "read timed out"))


def test_connect_timeout_is_unavailable() -> None:
    with pytest.raises(MagicHourUnavailable):
        create(ConnectTimeoutError("connect timed out"))


def test_connection_refused_is_unavailable() -> None:
    conn = HTTPSConnection("api.magichour.test", 443)
    refused = NewConnectionError(conn, "Failed to establish a new connection: [Errno 111] Connection refused")
    with pytest.raises(MagicHourUnavailable):
        create(refused)


def test_name_resolution_failure_is_unavailable() -> None:
    conn = HTTPSConnection("api.magichour.test", 443)
    with pytest.raises(MagicHourUnavailable):
        create(NameResolutionError("api.magichour.test", conn, socket.gaierror(-2, "nope")))


def test_connection_reset_mid_request_is_outcome_unknown() -> None:
    reset = ProtocolError("Connection aborted.", ConnectionResetError(104, "Connection reset by peer"))
    with pytest.raises(MagicHourOutcomeUnknown):
        create(reset)


def test_a_socket_error_outside_urllib3s_wrapping_is_outcome_unknown() -> None:
    with pytest.raises(MagicHourOutcomeUnknown):
        create(ConnectionResetError(104, "Connection reset by peer"))


# -- the same decisions against real sockets -------------------------------------------------------


@pytest.fixture
def server() -> Iterator[Callable[[Callable[[socket.socket], None]], str]]:
    """A one-connection TCP server on this machine whose behaviour each test scripts."""
    listeners: list[socket.socket] = []
    threads: list[threading.Thread] = []

    def start(behave: Callable[[socket.socket], None]) -> str:
        listener = socket.create_server(("127.0.0.1", 0))
        listeners.append(listener)

        def serve() -> None:
            connection, _ = listener.accept()
            with connection:
                behave(connection)

        thread = threading.Thread(target=serve, daemon=True)
        thread.start()
        threads.append(thread)
        return f"http://127.0.0.1:{listener.getsockname()[1]}"

    yield start
    for listener in listeners:
        listener.close()
    for thread in threads:
        thread.join(timeout=5)


def _read_request(connection: socket.socket) -> bytes:
    data = b""
    while b"\r\n\r\n" not in data:
        chunk = connection.recv(65536)
        if not chunk:
            break
        data += chunk
    return data


def test_real_refused_connection_is_unavailable() -> None:
    with socket.create_server(("127.0.0.1", 0)) as probe:
        port = probe.getsockname()[1]  # closed again below: nothing listens there
    client = MagicHourClient(f"http://127.0.0.1:{port}", lambda: "k", timeout=(1.0, 1.0))
    with pytest.raises(MagicHourUnavailable):
        client.create_project("face-swap", {})


def test_real_silent_server_is_outcome_unknown(server: Callable[..., str]) -> None:
    received = threading.Event()

    def silent(connection: socket.socket) -> None:
        _read_request(connection)
        received.set()
        connection.recv(1)  # holds the connection open until the client gives up

    client = MagicHourClient(server(silent), lambda: "k", timeout=(1.0, 0.3))
    with pytest.raises(MagicHourOutcomeUnknown):
        client.create_project("face-swap", {})
    assert received.is_set()


def test_real_answer_cut_off_is_outcome_unknown(server: Callable[..., str]) -> None:
    def cut(connection: socket.socket) -> None:
        _read_request(connection)
        connection.sendall(b'HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\n{"id": "p')

    client = MagicHourClient(server(cut), lambda: "k", timeout=(1.0, 2.0))
    with pytest.raises(MagicHourOutcomeUnknown):
        client.create_project("face-swap", {})


def test_real_redirect_is_not_followed(server: Callable[..., str]) -> None:
    def redirect(connection: socket.socket) -> None:
        _read_request(connection)
        connection.sendall(
            b"HTTP/1.1 307 Temporary Redirect\r\nLocation: /v1/elsewhere\r\nContent-Length: 0\r\n\r\n"
        )

    client = MagicHourClient(server(redirect), lambda: "k", timeout=(1.0, 2.0))
    with pytest.raises(MagicHourError) as caught:
        client.create_project("face-swap", {})
    assert caught.value.status_code == 307


def test_put_file_streams_with_a_content_length(server: Callable[..., str]) -> None:
    import io

    seen: list[bytes] = []

    def storage(connection: socket.socket) -> None:
        data = _read_request(connection)
        head, _, body = data.partition(b"\r\n\r\n")
        while len(body) < 5000:
            body += connection.recv(65536)
        seen.extend([head, body])
        connection.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n")

    client = MagicHourClient(BASE_URL, lambda: "k", timeout=(1.0, 2.0))
    client.put_file(server(storage) + "/upload?sig=x", io.BytesIO(b"x" * 5000), 5000)
    head, body = seen
    assert b"content-length: 5000" in head.lower()
    assert b"transfer-encoding" not in head.lower()
    assert b"authorization" not in head.lower()  # a signed URL: our bearer key never goes there
    assert body == b"x" * 5000


@pytest.mark.parametrize("payload", [{"credits_charged": 450}, {"id": ""}, {"id": 42}, {"id": None}])
def test_create_answer_without_a_project_id_is_outcome_unknown(payload: dict[str, Any]) -> None:
    with pytest.raises(MagicHourOutcomeUnknown):
        create(response(200, payload))


@pytest.mark.parametrize("raw_body", [b"not json", b"[]", b""])
def test_2xx_without_a_json_object_is_outcome_unknown(raw_body: bytes) -> None:
    with pytest.raises(MagicHourOutcomeUnknown):
        create(response(200, raw_body=raw_body))


def test_long_error_message_is_capped() -> None:
    with pytest.raises(MagicHourRejected) as caught:
        create(response(400, {"message": "m" * 5000}))
    assert len(caught.value.message) == 500


def test_an_unreadable_api_key_is_unavailable_and_sends_nothing() -> None:
    from pipeline.magic_hour.client import MagicHourClient
    from pipeline.magic_hour.errors import MagicHourUnavailable

    class NoNetwork(FakePool):
        def request(self, method: str, url: str, **options: Any) -> urllib3.HTTPResponse:
            raise AssertionError("nothing may be sent without a key")

    def broken_key() -> str:
        raise RuntimeError("secrets manager down")

    client = MagicHourClient("https://api.example", broken_key, timeout=(1.0, 1.0), http=NoNetwork())  # type: ignore[arg-type]
    with pytest.raises(MagicHourUnavailable):
        client.create_project("face-swap", {})
