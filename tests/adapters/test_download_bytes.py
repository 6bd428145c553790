"""The downloader stores exactly the bytes sent (pipeline.downloads.http_to_s3): no content decoding,
no body whose length it cannot verify, nothing over DownloadMaxBytes. Raw answers from a socket
server on loopback (so framing is exactly what the test writes), S3 a moto server in-process."""

from __future__ import annotations

import gzip
import hashlib
import socket
import threading
from collections import Counter
from collections.abc import Callable, Iterator, Mapping
from typing import Any

import pytest
from test_ranged_download import BUCKET, s3_calls, s3_endpoint

from pipeline.downloads.http_to_s3 import DownloadFailed, OutputTooLarge, Transfer, fetch_into_s3
from pipeline.platform import aws

__all__ = ["s3_calls", "s3_endpoint"]  # fixtures, used by name

KEY_PREFIX = "bytes-test"


class RawServer:
    """Answers every request with `answer` (raw bytes, framing included), then closes."""

    def __init__(self) -> None:
        self.answer = b""
        self.requests: list[bytes] = []
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(8)
        self.url = f"http://127.0.0.1:{self.sock.getsockname()[1]}/out.mp4"
        threading.Thread(target=self._serve, daemon=True).start()

    def _serve(self) -> None:
        while True:
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return
            with conn:
                request = b""
                while b"\r\n\r\n" not in request:
                    chunk = conn.recv(65536)
                    if not chunk:
                        break
                    request += chunk
                self.requests.append(request)
                conn.sendall(self.answer)


@pytest.fixture
def server() -> Iterator[RawServer]:
    raw = RawServer()
    yield raw
    raw.sock.close()


def head(status: str, headers: dict[str, str]) -> bytes:
    lines = [f"HTTP/1.1 {status}", *(f"{name}: {value}" for name, value in headers.items()), "", ""]
    return "\r\n".join(lines).encode()


def fetch(server: RawServer, key: str) -> Any:
    return fetch_into_s3(
        server.url, lambda _extension: key, {"job-id": "job_b"}, ["127.0.0.1"], (5.0, 10.0), Transfer()
    )


def stored_keys() -> list[str]:
    listed = aws.s3_client().list_objects_v2(Bucket=BUCKET, Prefix=KEY_PREFIX)
    return [item["Key"] for item in listed.get("Contents", [])]


def test_a_gzip_body_is_stored_as_sent_not_inflated(server: RawServer, s3_calls: Counter[str]) -> None:
    # 2 MB of zeros is 2 KB of gzip: decoded, a tiny wire body becomes a huge object.
    sent = gzip.compress(b"\0" * 2_000_000)
    server.answer = (
        head(
            "200 OK",
            {"Content-Type": "video/mp4", "Content-Encoding": "gzip", "Content-Length": str(len(sent))},
        )
        + sent
    )
    fetched = fetch(server, f"{KEY_PREFIX}/gzip.mp4")
    assert (fetched.size_bytes, fetched.sha256) == (len(sent), hashlib.sha256(sent).hexdigest())
    body = aws.s3_client().get_object(Bucket=BUCKET, Key=f"{KEY_PREFIX}/gzip.mp4")["Body"].read()
    assert body == sent


def test_every_request_asks_for_the_bytes_uncompressed(server: RawServer, s3_calls: Counter[str]) -> None:
    server.answer = head("200 OK", {"Content-Length": "3"}) + b"abc"
    fetch(server, f"{KEY_PREFIX}/identity.mp4")
    assert server.requests
    assert all(b"accept-encoding: identity" in request.lower() for request in server.requests)


def test_a_body_delimited_only_by_the_connection_closing_is_never_stored(
    server: RawServer, s3_calls: Counter[str]
) -> None:
    # No Content-Length, not chunked: a cut body looks exactly like a whole one.
    server.answer = head("200 OK", {"Content-Type": "video/mp4", "Connection": "close"}) + b"x" * 1000
    with pytest.raises(DownloadFailed, match="declares no length"):
        fetch(server, f"{KEY_PREFIX}/close.mp4")
    assert f"{KEY_PREFIX}/close.mp4" not in stored_keys()


def test_a_complete_chunked_body_is_stored(server: RawServer, s3_calls: Counter[str]) -> None:
    server.answer = head("200 OK", {"Transfer-Encoding": "chunked"}) + b"3\r\nabc\r\n2\r\nde\r\n0\r\n\r\n"
    fetched = fetch(server, f"{KEY_PREFIX}/chunked.mp4")
    assert (fetched.size_bytes, fetched.sha256) == (5, hashlib.sha256(b"abcde").hexdigest())


def test_a_chunked_body_cut_before_its_last_chunk_is_never_stored(
    server: RawServer, s3_calls: Counter[str]
) -> None:
    server.answer = head("200 OK", {"Transfer-Encoding": "chunked"}) + b"3\r\nabc\r\n5\r\nde"
    with pytest.raises(DownloadFailed):
        fetch(server, f"{KEY_PREFIX}/chunked-cut.mp4")
    assert f"{KEY_PREFIX}/chunked-cut.mp4" not in stored_keys()


@pytest.fixture
def max_bytes(override_env: Callable[[Mapping[str, str]], None], s3_calls: Counter[str]) -> int:
    override_env({"DOWNLOAD_MAX_BYTES": "1000"})
    return 1000


@pytest.mark.parametrize(
    ("status", "headers", "body"),
    [
        ("200 OK", {"Content-Length": "1001"}, b"y" * 1001),  # declared over
        ("206 Partial Content", {"Content-Range": "bytes 0-99/5000", "Content-Length": "100"}, b"y" * 100),
        ("200 OK", {"Transfer-Encoding": "chunked"}, b"3e9\r\n" + b"y" * 1001 + b"\r\n0\r\n\r\n"),  # counted
    ],
)
def test_an_output_over_download_max_bytes_is_refused_for_good(
    server: RawServer, max_bytes: int, status: str, headers: dict[str, str], body: bytes
) -> None:
    server.answer = head(status, headers) + body
    with pytest.raises(OutputTooLarge):
        fetch(server, f"{KEY_PREFIX}/big.mp4")
    assert f"{KEY_PREFIX}/big.mp4" not in stored_keys()


def test_an_output_at_download_max_bytes_is_stored(server: RawServer, max_bytes: int) -> None:
    server.answer = head("200 OK", {"Content-Length": "1000"}) + b"z" * 1000
    assert fetch(server, f"{KEY_PREFIX}/edge.mp4").size_bytes == 1000
