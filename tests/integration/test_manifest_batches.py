"""Manifest batches over HTTP (CONTRACT §1 "Batches"): `POST /v1/batches` with `{"manifest":
"s3://..."}` naming a JSON Lines upload, through the local stack, on a stack of its own with
client-gamma's budget at 100 credits. Every refusal is a precise 422 (or 402) and creates nothing."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from typing import Any

import pytest
import requests
from conftest import StackHandle, fresh_scenario, own_stack

from tests.observe import all_jobs

VOICE = {"tool": "ai-voice-generator", "input": {"style": {"prompt": "hi", "voice_name": "Elon Musk"}}}


@pytest.fixture(scope="module")
def manifests(tmp_path_factory: pytest.TempPathFactory) -> Iterator[StackHandle]:
    with own_stack(tmp_path_factory, budgets="client-gamma=100") as handle:
        yield handle


@pytest.fixture
def stack(manifests: StackHandle) -> StackHandle:
    return fresh_scenario(manifests, render_seconds=0.2)


def upload(stack: StackHandle, data: bytes, key: str = "key-alpha", extension: str = "jsonl") -> str:
    answer = requests.post(
        f"{stack.api}/v1/uploads", json={"extension": extension}, headers=stack.headers(key), timeout=10
    )
    assert answer.status_code == 201, answer.text
    put = requests.put(answer.json()["upload_url"], data=data, timeout=30)
    assert put.status_code == 200, put.text
    return str(answer.json()["file_path"])


def lines(*jobs: Any) -> bytes:
    return b"".join(json.dumps(job).encode() + b"\n" for job in jobs)


def rows(n: int, prefix: str = "row") -> list[dict[str, Any]]:
    return [{"custom_id": f"{prefix}-{i}", **VOICE} for i in range(n)]


def post_batch(stack: StackHandle, body: Any, key: str = "key-alpha", **headers: str) -> requests.Response:
    return requests.post(
        f"{stack.api}/v1/batches", json=body, headers=stack.headers(key, **headers), timeout=60
    )


def wait_status(stack: StackHandle, batch_id: str, status: str, key: str = "key-alpha") -> dict[str, Any]:
    deadline = time.monotonic() + 60
    url = f"{stack.api}/v1/batches/{batch_id}"
    batch: dict[str, Any] = requests.get(url, headers=stack.headers(key), timeout=10).json()
    while batch["status"] != status:
        if time.monotonic() > deadline:
            raise AssertionError(f"batch stayed {batch['status']}, expected {status}")
        time.sleep(0.2)
        batch = requests.get(url, headers=stack.headers(key), timeout=10).json()
    return batch


def refused(answer: requests.Response) -> list[dict[str, Any]]:
    assert answer.status_code == 422, answer.text
    error = answer.json()["error"]
    assert error["code"] == "validation_failed"
    return list(error["details"])


def test_a_manifest_batch_runs_its_jobs_in_the_manifests_order(stack: StackHandle) -> None:
    manifest = upload(stack, lines(*rows(4, "m")))
    answer = post_batch(stack, {"manifest": manifest, "metadata": {"source": "manifest"}})
    assert answer.status_code == 202, answer.text
    batch = answer.json()
    assert batch["counts"]["total"] == 4
    assert batch["metadata"] == {"source": "manifest"}
    ended = wait_status(stack, batch["batch_id"], "completed")
    assert ended["counts"]["completed"] == 4
    page = requests.get(
        f"{stack.api}/v1/batches/{batch['batch_id']}/jobs", headers=stack.headers(), timeout=10
    ).json()
    assert [job["custom_id"] for job in page["jobs"]] == ["m-0", "m-1", "m-2", "m-3"]


def test_every_bad_line_is_named_and_nothing_is_created(stack: StackHandle) -> None:
    before = len(all_jobs(stack))
    good = rows(5, "bad")
    data = (
        lines(good[0])
        + b'{"custom_id": "bad-1", "tool": "ai-voice-generator", "input": {"style": {}}}\n'
        + b"\xff\xfe not utf-8\n"
        + lines({**good[3], "custom_id": "bad-0"})
        + lines({**good[4], "custom_id": "no spaces"})
        + b"[1, 2]\n"
    )
    details = refused(post_batch(stack, {"manifest": upload(stack, data)}))
    by_line = {detail["line"]: detail for detail in details}
    assert by_line[2]["custom_id"] == "bad-1"
    assert by_line[2]["code"] == "validation_failed"
    assert by_line[2]["loc"][:4] == ["body", "manifest", 2, "input"]
    assert by_line[3]["code"] == "not_utf8"
    assert by_line[4]["code"] == "duplicate_custom_id"
    assert by_line[5]["code"] == "invalid_custom_id"
    assert by_line[6]["code"] == "invalid_json"
    assert 1 not in by_line
    assert len(all_jobs(stack)) == before


@pytest.mark.parametrize(
    ("data", "code"),
    [
        (b"", "empty_manifest"),
        (b'{"custom_id": "x", "pad": "' + b"a" * (256 * 1024) + b'"}\n', "line_too_long"),
        (b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR", "not_utf8"),
        (b"tool,input\nface-swap,{}\n", "invalid_json"),
    ],
)
def test_a_manifest_that_is_not_json_lines_is_refused(stack: StackHandle, data: bytes, code: str) -> None:
    before = len(all_jobs(stack))
    details = refused(post_batch(stack, {"manifest": upload(stack, data)}))
    assert details[0]["code"] == code
    assert details[0]["loc"][:2] == ["body", "manifest"]
    assert len(all_jobs(stack)) == before


def test_a_manifest_of_10001_lines_is_refused_at_the_line_over(stack: StackHandle) -> None:
    details = refused(post_batch(stack, {"manifest": upload(stack, lines(*rows(10_001)))}))
    assert [(detail["code"], detail["line"]) for detail in details] == [("too_many_lines", 10_001)]
    # 10,000 lines are fine; with a duplicate in every line the details stop at 100.
    repeated = lines(*[{**job, "custom_id": "same"} for job in rows(300)])
    details = refused(post_batch(stack, {"manifest": upload(stack, repeated)}))
    assert len(details) == 100
    assert {detail["code"] for detail in details} == {"duplicate_custom_id"}


def test_another_clients_manifest_is_not_found_whether_or_not_it_exists(stack: StackHandle) -> None:
    theirs = upload(stack, lines(*rows(1)), key="key-beta")
    missing = theirs.rsplit("/", 1)[0].replace("client-beta", "client-alpha") + "/" + "0" * 32 + ".jsonl"
    not_jsonl = upload(stack, b"\x89PNG", extension="png")
    answers = [post_batch(stack, {"manifest": uri}) for uri in [theirs, missing, not_jsonl, "s3://x/y"]]
    messages = {detail["msg"] for answer in answers for detail in refused(answer)}
    assert len(messages) == 1, messages  # one answer for all: nothing tells another's apart
    assert all(refused(answer)[0]["loc"] == ["body", "manifest"] for answer in answers)


def test_a_manifest_over_the_budget_as_a_whole_is_refused(stack: StackHandle) -> None:
    """Voice jobs cost 20 credits: 6 of them (120) do not fit in 100, though each alone would."""
    answer = post_batch(stack, {"manifest": upload(stack, lines(*rows(6)), key="key-gamma")}, key="key-gamma")
    assert answer.status_code == 402, answer.text
    assert answer.json()["error"]["code"] == "budget_exceeded"
    assert all_jobs(stack, "key-gamma") == []
    # Nor a copy of the manifest: the batch's own key is made only for a batch that is written.
    from local.resources import client

    bucket = stack.stack.resolver.refs["InputBucket"]
    copies = client("s3", stack.aws, "us-east-1").list_objects_v2(
        Bucket=bucket, Prefix="batches/client-gamma/"
    )
    assert copies.get("KeyCount", 0) == 0, copies.get("Contents")


def test_the_same_key_and_manifest_is_the_same_batch(stack: StackHandle) -> None:
    manifest = upload(stack, lines(*rows(2, "idem")))
    first = post_batch(stack, {"manifest": manifest}, **{"Idempotency-Key": "manifest-key-1"})
    again = post_batch(stack, {"manifest": manifest}, **{"Idempotency-Key": "manifest-key-1"})
    assert (first.status_code, again.status_code) == (202, 202), (first.text, again.text)
    assert again.json()["batch_id"] == first.json()["batch_id"]
    other = upload(stack, lines(*rows(3, "idem")))
    conflict = post_batch(stack, {"manifest": other}, **{"Idempotency-Key": "manifest-key-1"})
    assert conflict.status_code == 409, conflict.text
    wait_status(stack, first.json()["batch_id"], "completed")
    assert len([job for job in all_jobs(stack) if job["batch_id"] == first.json()["batch_id"]]) == 2
