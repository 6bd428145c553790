"""Fetching one output into S3 (pipeline.downloads.http_to_s3.fetch_into_s3) against a small local
file server and a real S3 endpoint (a moto server in this process): parallel ranges when the
server honours Range, one stream when it does not, a cut or mismatched range never stored, and
every byte written once (no CopyObject: S3 calls counted by a botocore event hook)."""

from __future__ import annotations

import base64
import contextlib
import hashlib
import socket
import threading
import zlib
from collections import Counter
from collections.abc import Callable, Iterator, Mapping
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest

from pipeline.downloads.http_to_s3 import DownloadFailed, Transfer, fetch_into_s3
from pipeline.platform import aws
from pipeline.store import outputs

BUCKET = "ranged-test-bucket"
PART = 5 * 1024 * 1024  # S3's smallest part
BODY = bytes(range(256)) * (PART * 2 // 256) + b"tail"  # 2 full parts and a short one


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


class FileServer:
    """Serves BODY at /file.mp4. `mode`: ranges (honours Range), whole (ignores it), cut (cuts
    the Nth range answer short), cut_all (cuts every answer after the first), wrong (answers
    range N with another range), changed (answers range N whole, as a server does for If-Range
    when the file changed)."""

    def __init__(self) -> None:
        self.mode = "ranges"
        self.bad_request = 2
        self.requests: list[str | None] = []
        self.lock = threading.Lock()
        # Set: requests 2..N+1 each wait until N of them are in flight at once (or answer 500).
        self.together: threading.Barrier | None = None
        server = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args: Any) -> None:
                pass

            def do_GET(self) -> None:
                with server.lock:
                    server.requests.append(self.headers.get("Range"))
                    number = len(server.requests)
                wanted = self.headers.get("Range")
                if server.together is not None and 2 <= number <= server.together.parties + 1:
                    try:
                        server.together.wait()
                    except threading.BrokenBarrierError:
                        self._send(500, b"not fetched in parallel", {})
                        return
                if server.mode == "whole" or number == server.bad_request:
                    mode = server.mode
                elif server.mode == "cut_all" and number > 1:
                    mode = "cut"
                else:
                    mode = "ranges"
                if not wanted or mode in ("whole", "changed"):
                    self._send(200, BODY, {})
                    return
                start_text, _, end_text = wanted.removeprefix("bytes=").partition("-")
                start, end = int(start_text), min(int(end_text), len(BODY) - 1)
                if mode == "wrong":
                    start, end = start + 1, end + 1
                piece = BODY[start : end + 1]
                headers = {"Content-Range": f"bytes {start}-{end}/{len(BODY)}", "ETag": '"v1"'}
                self._send(206, piece, headers, cut=mode == "cut")

            def _send(self, status: int, body: bytes, headers: dict[str, str], cut: bool = False) -> None:
                self.send_response(status)
                self.send_header("Content-Type", "video/mp4")
                self.send_header("Content-Length", str(len(body)))
                self.send_header("Accept-Ranges", "bytes")
                for name, value in headers.items():
                    self.send_header(name, value)
                self.end_headers()
                self.wfile.write(body[: len(body) // 2] if cut else body)
                if cut:
                    self.close_connection = True

        self.httpd = ThreadingHTTPServer(("127.0.0.1", _free_port()), Handler)
        self.url = f"http://127.0.0.1:{self.httpd.server_port}/file.mp4"
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()


@pytest.fixture(scope="module")
def s3_endpoint() -> Iterator[str]:
    from moto.server import ThreadedMotoServer

    port = _free_port()
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
    server.start()
    yield f"http://127.0.0.1:{port}"
    server.stop()


@pytest.fixture
def s3_calls(s3_endpoint: str, override_env: Callable[[Mapping[str, str]], None]) -> Iterator[Counter[str]]:
    override_env(
        {
            "AWS_ENDPOINT_URL": s3_endpoint,
            "AWS_ACCESS_KEY_ID": "test",
            "AWS_SECRET_ACCESS_KEY": "test",
            "AWS_DEFAULT_REGION": "us-east-1",
            "OUTPUT_BUCKET_NAME": BUCKET,
            # The test's file server is plain http on loopback, as the local stack's simulator.
            "DOWNLOAD_REQUIRE_HTTPS": "false",
        }
    )
    client = aws.s3_client()
    with contextlib.suppress(client.exceptions.BucketAlreadyOwnedByYou):
        client.create_bucket(Bucket=BUCKET)
    calls: Counter[str] = Counter()

    def count(model: Any, **_: Any) -> None:
        calls[model.name] += 1

    client.meta.events.register("before-call.s3.*", count)
    yield calls
    client.meta.events.unregister("before-call.s3.*", count)


@pytest.fixture
def files() -> Iterator[FileServer]:
    server = FileServer()
    yield server
    server.httpd.shutdown()


def _fetch(server: FileServer, key: str, part: int = PART, parallel: int = 3) -> Any:
    return fetch_into_s3(
        server.url,
        lambda _extension: key,
        {"job-id": "job_1"},
        ["127.0.0.1"],
        (5.0, 30.0),
        Transfer(part_bytes=part, parallel_ranges=parallel),
    )


def _stored(key: str) -> bytes:
    return bytes(aws.s3_client().get_object(Bucket=BUCKET, Key=key)["Body"].read())


def _crc32(data: bytes) -> bytes:
    return zlib.crc32(data).to_bytes(4, "big")


def _s3_checksums(key: str) -> dict[str, str]:
    """The object's checksums as S3 reports them, without the `-<parts>` suffix AWS adds to a
    multipart object's (moto leaves it out)."""
    answer = aws.s3_client().head_object(Bucket=BUCKET, Key=key, ChecksumMode="ENABLED")
    return {
        name: str(value).partition("-")[0]
        for name, value in answer.items()
        if name.startswith("Checksum") and name != "ChecksumType"
    }


def _composite_crc32(body: bytes, part: int) -> str:
    """S3's checksum of a multipart object whose parts each carried their CRC32: the CRC32 of
    the parts' CRC32s (a full-object checksum would be another value, or another algorithm)."""
    parts = [body[start : start + part] for start in range(0, len(body), part)]
    return base64.b64encode(_crc32(b"".join(_crc32(piece) for piece in parts))).decode()


def _exists(key: str) -> bool:
    return outputs.head(key) is not None


def test_ranges_are_fetched_in_parallel_and_written_once(files: FileServer, s3_calls: Counter[str]) -> None:
    files.together = threading.Barrier(2, timeout=10)  # the two ranges after the first
    fetched = _fetch(files, "ranged.mp4", parallel=2)
    assert fetched.size_bytes == len(BODY)
    assert fetched.sha256 == hashlib.sha256(BODY).hexdigest()
    assert files.requests[0] == f"bytes=0-{PART - 1}"
    assert sorted(files.requests, key=lambda r: int(r.split("=")[1].split("-")[0])) == [  # type: ignore[union-attr]
        f"bytes={start}-{min(start + PART, len(BODY)) - 1}" for start in range(0, len(BODY), PART)
    ]
    # Every byte written once: the parts, then only a tag; never a copy of the object.
    assert s3_calls == Counter(
        {"CreateMultipartUpload": 1, "UploadPart": 3, "CompleteMultipartUpload": 1, "PutObjectTagging": 1}
    )
    assert _stored("ranged.mp4") == BODY
    facts = outputs.head("ranged.mp4")
    assert facts is not None
    assert facts.sha256 == fetched.sha256
    # Each part was checked by S3 against its CRC32, declared on the upload: no full-object pass.
    assert _s3_checksums("ranged.mp4") == {"ChecksumCRC32": _composite_crc32(BODY, PART)}


def test_a_server_that_refuses_ranges_is_streamed_as_one_body(
    files: FileServer, s3_calls: Counter[str]
) -> None:
    files.mode = "whole"
    fetched = _fetch(files, "whole.mp4")
    assert fetched.sha256 == hashlib.sha256(BODY).hexdigest()
    assert len(files.requests) == 1
    assert s3_calls["UploadPart"] == 3
    assert s3_calls["CopyObject"] == s3_calls["UploadPartCopy"] == 0
    assert _stored("whole.mp4") == BODY
    assert outputs.head("whole.mp4").sha256 == fetched.sha256  # type: ignore[union-attr]
    assert _s3_checksums("whole.mp4") == {"ChecksumCRC32": _composite_crc32(BODY, PART)}


def test_a_small_file_is_one_tagged_put(files: FileServer, s3_calls: Counter[str]) -> None:
    fetched = _fetch(files, "small.mp4", part=len(BODY) + 1)
    assert fetched.size_bytes == len(BODY)
    assert s3_calls == Counter({"PutObject": 1})
    assert outputs.head("small.mp4").sha256 == hashlib.sha256(BODY).hexdigest()  # type: ignore[union-attr]
    assert _s3_checksums("small.mp4") == {"ChecksumCRC32": base64.b64encode(_crc32(BODY)).decode()}


def test_a_range_cut_short_is_fetched_again(files: FileServer, s3_calls: Counter[str]) -> None:
    files.mode, files.bad_request = "cut", 3
    fetched = _fetch(files, "cut.mp4")
    assert fetched.sha256 == hashlib.sha256(BODY).hexdigest()
    assert len(files.requests) == 4  # three ranges, one of them twice
    assert _stored("cut.mp4") == BODY


@pytest.mark.parametrize(("mode", "bad_request"), [("wrong", 3), ("changed", 3), ("wrong", 1)])
def test_a_mismatched_range_is_never_stored(
    files: FileServer, s3_calls: Counter[str], mode: str, bad_request: int
) -> None:
    files.mode, files.bad_request = mode, bad_request
    key = f"{mode}-{bad_request}.mp4"
    with pytest.raises(DownloadFailed, match=r"Content-Range|not 206"):
        _fetch(files, key)
    assert not _exists(key)
    assert s3_calls["CompleteMultipartUpload"] == s3_calls["PutObject"] == 0
    # A later range failing aborts the upload it started; a bad first range never starts one.
    assert s3_calls["AbortMultipartUpload"] == s3_calls["CreateMultipartUpload"] == (bad_request > 1)
    assert aws.s3_client().list_multipart_uploads(Bucket=BUCKET).get("Uploads", []) == []


def test_a_range_cut_on_every_attempt_fails_the_attempt_and_stores_nothing(
    files: FileServer, s3_calls: Counter[str]
) -> None:
    files.mode = "cut_all"
    with pytest.raises(DownloadFailed):
        _fetch(files, "cutall.mp4")
    assert not _exists("cutall.mp4")
    assert s3_calls["CompleteMultipartUpload"] == 0
    assert s3_calls["AbortMultipartUpload"] == 1


def test_an_object_without_its_sha256_tag_is_not_trusted_as_stored(s3_calls: Counter[str]) -> None:
    """An upload that died between CompleteMultipartUpload and the tag left an untagged object:
    the downloader's crash recovery (downloads.downloads._already_in_s3) must not record it."""
    client = aws.s3_client()
    client.put_object(Bucket=BUCKET, Key="untagged.mp4", Body=b"abc")
    facts = outputs.head("untagged.mp4")
    assert facts is not None
    assert facts.size_bytes == 3
    assert facts.sha256 is None
    outputs.tag_sha256("untagged.mp4", "f" * 64)
    assert outputs.head("untagged.mp4").sha256 == "f" * 64  # type: ignore[union-attr]
    assert outputs.head("never-written.mp4") is None


def test_part_bodies_are_not_hashed_again_for_the_signature(
    files: FileServer, s3_calls: Counter[str]
) -> None:
    # Over plain HTTP botocore would SHA-256 every body for SigV4; the client says UNSIGNED-PAYLOAD,
    # as botocore does over HTTPS, and each body carries its CRC32 instead.
    sent: list[tuple[str, str | None, str | None]] = []

    def record(request: Any, **_: Any) -> None:
        headers = request.headers
        sent.append(
            (request.method, headers.get("X-Amz-Content-SHA256"), headers.get("x-amz-checksum-crc32"))
        )

    client = aws.s3_client()
    client.meta.events.register("before-send.s3.UploadPart", record)
    client.meta.events.register("before-send.s3.PutObject", record)
    try:
        _fetch(files, "unsigned.mp4")
        _fetch(files, "unsigned-small.mp4", part=len(BODY) + 1)
    finally:
        client.meta.events.unregister("before-send.s3.UploadPart", record)
        client.meta.events.unregister("before-send.s3.PutObject", record)
    assert len(sent) == 4  # three parts and one whole object
    for _method, content_sha256, crc32 in sent:
        assert content_sha256 in (b"UNSIGNED-PAYLOAD", "UNSIGNED-PAYLOAD")
        assert crc32


def test_a_completed_part_names_its_crc32_when_s3_answered_one() -> None:
    assert outputs._completed(outputs.UploadedPart(1, '"e1"', "AAAAAA==")) == {
        "PartNumber": 1,
        "ETag": '"e1"',
        "ChecksumCRC32": "AAAAAA==",
    }
    # Never an empty checksum, which S3 would take as a part that does not match.
    assert outputs._completed(outputs.UploadedPart(2, '"e2"', "")) == {"PartNumber": 2, "ETag": '"e2"'}
