"""Everything a create request must pass before any state is written (pipeline.submit.submission)."""

from __future__ import annotations

import json
from typing import Any

import pytest

from pipeline.jobs import errors
from pipeline.models.job import Job, JobError, JobStatus
from pipeline.submit.submission import refusal_error
from pipeline.submit.validation import MAX_BODY_BYTES, parse_submission
from tests.unit.test_callback_ports import allow_any_callback_port

GOOD: dict[str, Any] = {
    "tool": "ai-image-generator",
    "input": {"image_count": 1, "style": {"prompt": "a red fox"}},
}


def body(**changes: Any) -> bytes:
    document = {**GOOD, **changes}
    return json.dumps(document).encode()


def parse(raw: bytes, key: str | None = None, require_https: bool = True) -> Any:
    return parse_submission("client-a", raw, key, require_https)


def refused(raw: bytes, key: str | None = None, require_https: bool = True) -> errors.RequestRefused:
    with pytest.raises(errors.RequestRefused) as caught:
        parse(raw, key, require_https)
    return caught.value


def locs(error: errors.RequestRefused) -> list[list[Any]]:
    assert error.details, error.message
    return [detail["loc"] for detail in error.details]


def test_valid_request_parses() -> None:
    submission = parse(body(name="fox", metadata={"order": 7}), key="abc-123")
    assert submission.client_id == "client-a"
    assert submission.tool.name == "ai-image-generator"
    assert submission.tool.kind == "image"
    assert submission.request.input == GOOD["input"]
    assert submission.request.metadata == {"order": 7}
    assert submission.idempotency_key == "abc-123"
    assert len(submission.fingerprint) == 64


def test_body_over_256_kb_is_413() -> None:
    raw = body() + b" " * MAX_BODY_BYTES
    error = refused(raw)
    assert isinstance(error, errors.BodyTooLarge)


def test_body_of_exactly_256_kb_is_not_too_large() -> None:
    raw = body()
    raw += b" " * (256 * 1024 - len(raw))
    assert len(raw) == 256 * 1024
    assert parse(raw).tool.name == "ai-image-generator"


@pytest.mark.parametrize("raw", [b"not json", b"{", b"\xff\xfe\x00", b""])
def test_non_json_is_400_invalid_json(raw: bytes) -> None:
    error = refused(raw)
    assert isinstance(error, errors.MalformedBody)


@pytest.mark.parametrize("raw", [b"[]", b'[{"tool": "face-swap"}]', b"null", b"42", b'"text"', b"true"])
def test_json_that_is_not_an_object_is_400_invalid_json(raw: bytes) -> None:
    error = refused(raw)
    assert isinstance(error, errors.MalformedBody)


@pytest.mark.parametrize(
    "raw",
    [
        b'{"tool":"face-swap","input":{"start_seconds":NaN,"end_seconds":10,"assets":{"video_source":"file"}}}',
        b'{"tool":"face-swap","input":{"start_seconds":0,"end_seconds":Infinity,"assets":{"video_source":"file"}}}',
        b'{"tool":"ai-image-generator","input":{"image_count":1,"style":{"prompt":"x"}},"metadata":{"a":NaN}}',
        b'{"tool":"ai-image-generator","input":{"image_count":1,"style":{"prompt":"x"}},"metadata":{"a":-Infinity}}',
    ],
    ids=["input-NaN", "input-Infinity", "metadata-NaN", "metadata-minus-Infinity"],
)
def test_non_standard_json_constants_are_refused(raw: bytes) -> None:
    # NaN/Infinity are not JSON (RFC 8259). Accepting them lets a job be written whose input
    # `requests` then cannot serialize for Magic Hour (InvalidJSONError, not a MagicHourError).
    error = refused(raw)
    assert isinstance(error, (errors.MalformedBody, errors.ValidationFailed))


def test_unknown_tool_is_400_and_points_at_the_tool_list() -> None:
    error = refused(body(tool="face-swap-deluxe"))
    assert isinstance(error, errors.UnknownTool)
    assert "GET /v1/tools" in error.message
    assert "face-swap-deluxe" in error.message


def test_missing_tool_is_422_at_body_tool() -> None:
    raw = json.dumps({"input": GOOD["input"]}).encode()
    error = refused(raw)
    assert isinstance(error, errors.ValidationFailed)
    assert ["body", "tool"] in locs(error)


def test_non_string_tool_is_422_not_unknown_tool() -> None:
    error = refused(body(tool=5))
    assert isinstance(error, errors.ValidationFailed)
    assert ["body", "tool"] in locs(error)


def test_unknown_envelope_field_is_422() -> None:
    error = refused(body(priority="high"))
    assert isinstance(error, errors.ValidationFailed)
    assert ["body", "priority"] in locs(error)


def test_missing_input_is_422() -> None:
    raw = json.dumps({"tool": "ai-image-generator"}).encode()
    error = refused(raw)
    assert ["body", "input"] in locs(error)


def test_name_of_100_chars_is_accepted_and_101_refused() -> None:
    assert parse(body(name="n" * 100)).request.name == "n" * 100
    error = refused(body(name="n" * 101))
    assert isinstance(error, errors.ValidationFailed)
    assert ["body", "name"] in locs(error)


@pytest.mark.parametrize("metadata", [{"a": {"b": 1}}, {"a": [1, 2]}])
def test_nested_metadata_is_422(metadata: dict[str, Any]) -> None:
    error = refused(body(metadata=metadata))
    assert isinstance(error, errors.ValidationFailed)
    assert ["body", "metadata"] in locs(error)


def test_metadata_over_2_kb_is_422() -> None:
    error = refused(body(metadata={"note": "x" * 2100}))
    assert isinstance(error, errors.ValidationFailed)
    assert ["body", "metadata"] in locs(error)


def test_metadata_just_under_2_kb_is_accepted() -> None:
    # {"note":"..."} is 11 bytes of JSON around the value.
    metadata = {"note": "x" * (2048 - 11)}
    assert len(json.dumps(metadata, separators=(",", ":")).encode()) == 2048
    assert parse(body(metadata=metadata)).request.metadata == metadata


def test_flat_metadata_with_scalars_is_accepted() -> None:
    metadata = {"s": "x", "i": 1, "f": 1.5, "b": True, "n": None}
    assert parse(body(metadata=metadata)).request.metadata == metadata


def test_bad_input_field_is_422_with_its_location() -> None:
    error = refused(body(input={"image_count": 99, "style": {"prompt": "x"}}))
    assert isinstance(error, errors.ValidationFailed)
    assert locs(error) == [["body", "input", "image_count"]]
    assert "ai-image-generator" in error.message


def test_input_that_is_not_an_object_is_422() -> None:
    error = refused(body(input=["image_count", 1]))
    assert isinstance(error, errors.ValidationFailed)
    assert ["body", "input"] in locs(error)


def test_https_callback_is_accepted_when_https_is_required() -> None:
    url = "https://client.example/hooks/magic?x=1"
    assert parse(body(callback_url=url)).request.callback_url == url


def test_http_callback_is_refused_when_https_is_required() -> None:
    error = refused(body(callback_url="http://client.example/hook"), require_https=True)
    assert isinstance(error, errors.ValidationFailed)
    assert locs(error) == [["body", "callback_url"]]


def test_http_callback_is_accepted_when_https_is_not_required(monkeypatch: pytest.MonkeyPatch) -> None:
    allow_any_callback_port(monkeypatch)  # as locally
    url = "http://127.0.0.1:8080/hook"
    assert parse(body(callback_url=url), require_https=False).request.callback_url == url


@pytest.mark.parametrize(
    "url",
    [
        "ftp://client.example/hook",
        "javascript:alert(1)",
        "file:///etc/passwd",
        "https:///no-host",
        "https://",
        "client.example/hook",
        "https://user:secret@client.example/hook",
        "https://user@client.example/hook",
        "http://user:secret@client.example/hook",
    ],
)
@pytest.mark.parametrize("require_https", [True, False])
def test_bad_callback_urls_are_refused(url: str, require_https: bool) -> None:
    error = refused(body(callback_url=url), require_https=require_https)
    assert isinstance(error, errors.ValidationFailed)
    assert locs(error) == [["body", "callback_url"]]


@pytest.mark.parametrize(
    "key",
    [
        "",
        "k" * 256,
        "cl\u00e9",  # non-ASCII
        "key\x00",
        "key\nnext",
        "key\ttab",
        "key\x7f",
    ],
)
def test_bad_idempotency_keys_are_422(key: str) -> None:
    error = refused(body(), key=key)
    assert isinstance(error, errors.ValidationFailed)
    assert locs(error) == [["header", "Idempotency-Key"]]


@pytest.mark.parametrize("key", ["k", "k" * 255, "order-42:retry/1 with spaces", "~!@#$%^&*()"])
def test_good_idempotency_keys_are_accepted(key: str) -> None:
    assert parse(body(), key=key).idempotency_key == key


def test_fingerprint_ignores_key_order_and_whitespace() -> None:
    compact = (
        b'{"tool":"ai-image-generator","input":{"image_count":1,"style":{"prompt":"a red fox"}},"name":"n"}'
    )
    shuffled = (
        b'{\n  "name": "n",\n  "input": {"style": {"prompt": "a red fox"},   "image_count": 1},\n'
        b'  "tool": "ai-image-generator"\n}\n'
    )
    assert parse(compact).fingerprint == parse(shuffled).fingerprint


def test_fingerprint_is_independent_of_the_idempotency_key() -> None:
    assert parse(body(), key="a").fingerprint == parse(body(), key="b").fingerprint


@pytest.mark.parametrize(
    "changes",
    [
        {"input": {"image_count": 2, "style": {"prompt": "a red fox"}}},
        {"input": {"image_count": 1, "style": {"prompt": "a red fox!"}}},
        {"name": "other"},
        {"metadata": {"k": "v"}},
        {"callback_url": "https://client.example/hook"},
    ],
)
def test_fingerprint_differs_for_a_different_body(changes: dict[str, Any]) -> None:
    assert parse(body(**changes)).fingerprint != parse(body()).fingerprint


def make_job(status: JobStatus, error: JobError | None) -> Job:
    return Job(
        job_id="job_abcdefghijklmnopqrstuvwxyz",
        client_id="client-a",
        tool="face-swap",
        kind="video",
        status=status,
        created_at="2026-01-01T00:00:00.000Z",
        updated_at="2026-01-01T00:00:01.000Z",
        error=error,
    )


@pytest.mark.parametrize(
    ("code", "refusal"),
    [("insufficient_credits", errors.InsufficientCredits), ("upstream_rejected", errors.UpstreamRejected)],
)
def test_refusal_error_for_a_job_refused_at_submit(code: str, refusal: type[errors.CreateRefused]) -> None:
    job = make_job(JobStatus.FAILED, JobError(code=code, message="Magic Hour said no", source="submit"))
    error = refusal_error(job)
    assert error is not None
    assert (type(error), error.message) == (refusal, "Magic Hour said no")
    assert error.details == [{"loc": ["job_id"], "msg": job.job_id}]


@pytest.mark.parametrize(
    "job",
    [
        make_job(JobStatus.FAILED, JobError(code="upstream_rejected", message="m", source="magic_hour")),
        make_job(JobStatus.FAILED, JobError(code="insufficient_credits", message="m", source="download")),
        make_job(JobStatus.FAILED, JobError(code="unknown_error", message="m", source="submit")),
        make_job(JobStatus.FAILED, None),
        make_job(JobStatus.SUBMITTING, None),
        make_job(JobStatus.QUEUED, None),
        make_job(JobStatus.COMPLETED, None),
        make_job(JobStatus.CANCELED, JobError(code="upstream_rejected", message="m", source="submit")),
    ],
)
def test_refusal_error_is_none_for_other_jobs(job: Job) -> None:
    assert refusal_error(job) is None


def test_deeply_nested_json_is_invalid_json_not_a_crash() -> None:
    body = b'{"tool":"face-swap","input":{"x":' + b"[" * 20000 + b"]" * 20000 + b"}}"
    with pytest.raises(errors.RequestRefused) as caught:
        parse_submission("client", body, None, True)
    assert isinstance(caught.value, errors.MalformedBody)


def test_numbers_beyond_float_range_are_invalid_json() -> None:
    body = b'{"tool":"face-swap","input":{"start_seconds":0,"end_seconds":1e400}}'
    with pytest.raises(errors.RequestRefused) as caught:
        parse_submission("client", body, None, True)
    assert isinstance(caught.value, errors.MalformedBody)
