"""The downloader's pure parts: the host guard, file extensions, the hashing reader
(pipeline.downloads.http_source)."""

from __future__ import annotations

from typing import Any

import pytest
from urllib3.exceptions import ProtocolError, ReadTimeoutError

from pipeline.downloads.fetch_errors import DownloadFailed
from pipeline.downloads.http_source import BodyReader, extension_of, host_allowed

ALLOWED = ["magichour.ai", "cloudfront.net"]


@pytest.mark.parametrize(
    "url",
    [
        "https://magichour.ai/output.mp4",
        "https://videos.magichour.ai/id/output.mp4?X-Amz-Signature=abc",
        "https://a.b.videos.magichour.ai/x",
        "https://VIDEOS.MagicHour.AI/x",
        "http://videos.magichour.ai/x",
        "https://d111111abcdef8.cloudfront.net/x.png",
        "https://videos.magichour.ai:8443/x",
    ],
)
def test_allowed_hosts_and_their_subdomains_pass(url: str) -> None:
    assert host_allowed(url, ALLOWED)


@pytest.mark.parametrize(
    "url",
    [
        "https://evilmagichour.ai/x",
        "https://magichour.ai.evil.example/x",
        "https://magichour.aix/x",
        "https://magichour.ai@evil.example/x",
        "https://evil.example/magichour.ai/x",
        "https://evil.example/?u=https://magichour.ai",
        "ftp://videos.magichour.ai/x",
        "file://magichour.ai/etc/passwd",
        "gopher://magichour.ai/x",
        "//videos.magichour.ai/x",
        "https:///x",
        "not a url",
        "",
    ],
)
def test_look_alikes_other_schemes_and_garbage_are_refused(url: str) -> None:
    assert not host_allowed(url, ALLOWED)


@pytest.mark.parametrize(
    "url",
    [
        "https://169.254.169.254/latest/meta-data/",
        "http://127.0.0.1:5000/x",
        "http://[::1]/x",
        "http://10.0.0.1/x",
    ],
)
def test_ip_addresses_are_refused_unless_listed(url: str) -> None:
    assert not host_allowed(url, ALLOWED)


def test_listed_ip_address_is_allowed() -> None:
    assert host_allowed("http://127.0.0.1:5000/bucket/key", [*ALLOWED, "127.0.0.1"])
    assert not host_allowed("http://127.0.0.2:5000/bucket/key", [*ALLOWED, "127.0.0.1"])


def test_empty_allow_list_refuses_everything() -> None:
    assert not host_allowed("https://videos.magichour.ai/x", [])


@pytest.mark.parametrize(
    ("url", "content_type", "expected"),
    [
        ("https://videos.magichour.ai/id/output.mp4", "", "mp4"),
        ("https://videos.magichour.ai/id/output.mp4?X-Amz-Signature=a.b.c", "video/mp4", "mp4"),
        ("https://images.magichour.ai/id/OUTPUT.PNG", "application/octet-stream", "png"),
        ("https://audio.magichour.ai/id/voice.wav#frag.x", "", "wav"),
        ("https://images.magichour.ai/id/out.jpeg", "image/png", "jpeg"),  # the URL wins
    ],
)
def test_extension_comes_from_the_url_path(url: str, content_type: str, expected: str) -> None:
    assert extension_of(url, content_type) == expected


@pytest.mark.parametrize(
    ("url", "content_type", "expected"),
    [
        ("https://images.magichour.ai/id/output", "image/png", "png"),
        ("https://images.magichour.ai/id/output", "image/png; charset=binary", "png"),
        ("https://videos.magichour.ai/id/output.toolongext", "video/mp4", "mp4"),
        ("https://videos.magichour.ai/id/output.m-p4", "video/mp4", "mp4"),
        ("https://videos.magichour.ai/id/output", "", ""),
    ],
)
def test_extension_falls_back_to_the_content_type(url: str, content_type: str, expected: str) -> None:
    assert extension_of(url, content_type) == expected


class FakeRaw:
    """urllib3's response body: read(n, decode_content=True) hands out the next chunk."""

    def __init__(self, chunks: list[bytes | Exception]) -> None:
        self.chunks = list(chunks)
        self.requested: list[int] = []
        self.decode_flags: list[Any] = []

    def read(self, amt: int, decode_content: bool = False) -> bytes:
        self.requested.append(amt)
        self.decode_flags.append(decode_content)
        if not self.chunks:
            return b""
        chunk = self.chunks.pop(0)
        if isinstance(chunk, Exception):
            raise chunk
        return chunk


def reader_for(chunks: list[bytes | Exception], declared: int | None) -> tuple[BodyReader, FakeRaw]:
    raw = FakeRaw(chunks)
    return BodyReader(raw, declared), raw  # type: ignore[arg-type]


def drain(reader: BodyReader, size: int = 4) -> bytes:
    out = b""
    while chunk := reader.read(size):
        out += chunk
    return out


def test_reader_counts_a_complete_body() -> None:
    chunks = [b"abc", b"defg", b"h"]
    reader, raw = reader_for(list(chunks), declared=8)
    assert drain(reader) == b"abcdefgh"
    assert reader.size == 8
    # The bytes as sent: never decoded (a gzip body is stored as the gzip it is).
    assert raw.decode_flags
    assert all(flag is False for flag in raw.decode_flags)


def test_reader_without_declared_length_accepts_any_length() -> None:
    reader, _ = reader_for([b"abc"], declared=None)
    assert drain(reader) == b"abc"
    assert reader.size == 3


def test_reader_raises_when_the_body_ends_before_the_declared_length() -> None:
    reader, _ = reader_for([b"abc", b"de"], declared=10)
    assert reader.read(4) == b"abc"
    assert reader.read(4) == b"de"
    with pytest.raises(DownloadFailed, match="5 of 10"):
        reader.read(4)


def test_reader_raises_on_an_empty_body_with_a_declared_length() -> None:
    reader, _ = reader_for([], declared=1)
    with pytest.raises(DownloadFailed):
        reader.read(1024)


def test_empty_body_declared_empty_is_fine() -> None:
    reader, _ = reader_for([], declared=0)
    assert reader.read(1024) == b""
    assert reader.size == 0


@pytest.mark.parametrize(
    "failure",
    [
        ProtocolError("Connection broken: IncompleteRead"),
        ReadTimeoutError(None, "/x", "Read timed out."),  # type: ignore[arg-type]
        OSError(),
    ],
)
def test_reader_turns_stream_failures_into_download_failed(failure: Exception) -> None:
    reader, _ = reader_for([b"abc", failure], declared=10)
    assert reader.read(4) == b"abc"
    with pytest.raises(DownloadFailed, match="after 3 bytes"):
        reader.read(4)


def test_reader_asks_for_the_requested_size_or_a_default_chunk() -> None:
    reader, raw = reader_for([b"a", b"b", b"c"], declared=None)
    reader.read(10)
    reader.read()
    reader.read(-1)
    assert raw.requested == [10, 1024 * 1024, 1024 * 1024]
