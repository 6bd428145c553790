"""A batch's results file is streamed (pipeline.store.results): parts uploaded as they fill, one
PutObject when small, aborted on failure; S3 a moto server in-process."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator

import pytest
from test_ranged_download import BUCKET, PART, s3_calls, s3_endpoint

from pipeline.platform import aws
from pipeline.store import results

__all__ = ["s3_calls", "s3_endpoint"]  # fixtures, used by name

LINE = b'{"custom_id":"row","status":"completed"}' + b" " * 983 + b"\n"  # 1 KiB


def lines(count: int) -> Iterator[bytes]:
    for _ in range(count):
        yield LINE


def stored(key: str) -> bytes:
    return bytes(aws.s3_client().get_object(Bucket=BUCKET, Key=key)["Body"].read())


def test_a_big_file_goes_up_in_parts_as_they_fill(s3_calls: Counter[str]) -> None:
    count = (2 * PART) // len(LINE) + 10  # two full parts and a short last one
    size = results.write_lines("results/c/big.jsonl", lines(count), part_bytes=PART)
    assert size == count * len(LINE)
    assert stored("results/c/big.jsonl") == LINE * count
    assert s3_calls["CreateMultipartUpload"] == 1
    assert s3_calls["UploadPart"] == 3
    assert s3_calls["CompleteMultipartUpload"] == 1
    assert s3_calls["PutObject"] == 0


def test_a_small_file_is_one_put_and_a_rewrite_replaces_it(s3_calls: Counter[str]) -> None:
    results.write_lines("results/c/small.jsonl", lines(3))
    results.write_lines("results/c/small.jsonl", lines(2))
    assert stored("results/c/small.jsonl") == LINE * 2
    assert (s3_calls["PutObject"], s3_calls["CreateMultipartUpload"]) == (2, 0)


def test_a_failure_midway_aborts_the_upload(s3_calls: Counter[str]) -> None:
    def failing() -> Iterator[bytes]:
        yield from lines(PART // len(LINE) + 1)  # one part uploaded
        raise RuntimeError("the jobs table failed")

    with pytest.raises(RuntimeError):
        results.write_lines("results/c/broken.jsonl", failing(), part_bytes=PART)
    assert s3_calls["AbortMultipartUpload"] == 1
    uploads = aws.s3_client().list_multipart_uploads(Bucket=BUCKET).get("Uploads", [])
    assert [u for u in uploads if u["Key"] == "results/c/broken.jsonl"] == []
