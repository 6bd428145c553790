"""An inline batch is validated whole before anything is written (pipeline.submit.batch_request)."""

from __future__ import annotations

import json
from typing import Any

import pytest

from pipeline.jobs import errors
from pipeline.magic_hour import rates
from pipeline.submit.batch_request import MAX_INLINE_JOBS, parse_inline_batch

IMAGE: dict[str, Any] = {
    "tool": "ai-image-generator",
    "input": {"image_count": 1, "style": {"prompt": "a red fox"}},
}


def job(custom_id: Any = "row-1", **changes: Any) -> dict[str, Any]:
    return {"custom_id": custom_id, **IMAGE, **changes}


def parse(document: Any, key: str | None = None) -> Any:
    return parse_inline_batch("client-a", json.dumps(document).encode(), key, True)


def refused(document: Any) -> errors.RequestRefused:
    with pytest.raises(errors.RequestRefused) as caught:
        parse(document)
    return caught.value


def locs(error: errors.RequestRefused) -> list[list[Any]]:
    assert isinstance(error, errors.ValidationFailed), error
    assert error.details, error.message
    return [detail["loc"] for detail in error.details]


def test_a_valid_batch_parses_with_its_estimate_in_order() -> None:
    batch = parse({"jobs": [job("a"), job("b:2", name="second")], "metadata": {"run": 7}})
    assert [item.custom_id for item in batch.items] == ["a", "b:2"]
    assert batch.items[1].submission.request.name == "second"
    assert batch.metadata == {"run": 7}
    assert batch.estimate == 2 * rates.estimate_credits(IMAGE["tool"], IMAGE["input"]) > 0


def test_the_fingerprint_follows_the_body() -> None:
    first = parse({"jobs": [job("a")]})
    assert parse({"jobs": [job("a")]}).fingerprint == first.fingerprint
    assert parse({"jobs": [job("b")]}).fingerprint != first.fingerprint


def test_a_bad_job_names_its_index_before_the_field() -> None:
    bad_input = job("b", input={"image_count": 1})  # style missing
    error = refused({"jobs": [job("a"), bad_input, job("c", extra=1)]})
    assert locs(error) == [["body", "jobs", 1, "input", "style"], ["body", "jobs", 2, "extra"]]
    assert "2 jobs" in error.message


def test_an_unknown_tool_in_a_batch_is_a_validation_detail() -> None:
    error = refused({"jobs": [job("a", tool="no-such-tool")]})
    assert locs(error) == [["body", "jobs", 0, "tool"]]


@pytest.mark.parametrize("custom_id", [None, "", "x" * 65, "has space", "é", 5])
def test_custom_id_rules(custom_id: Any) -> None:
    document = job(custom_id)
    if custom_id is None:
        del document["custom_id"]
    assert locs(refused({"jobs": [document]})) == [["body", "jobs", 0, "custom_id"]]


def test_custom_id_of_64_allowed_characters_is_accepted() -> None:
    custom_id = ("Az09_.:-" * 8)[:64]
    assert parse({"jobs": [job(custom_id)]}).items[0].custom_id == custom_id


def test_a_repeated_custom_id_names_the_repeat() -> None:
    error = refused({"jobs": [job("a"), job("b"), job("a")]})
    assert locs(error) == [["body", "jobs", 2, "custom_id"]]
    assert error.details is not None
    assert "job 0" in error.details[0]["msg"]


@pytest.mark.parametrize(
    ("document", "loc"),
    [
        ({"jobs": []}, ["body", "jobs"]),
        ({"jobs": [job(str(i)) for i in range(MAX_INLINE_JOBS + 1)]}, ["body", "jobs"]),
        ({"jobs": "many"}, ["body", "jobs"]),
        ({}, ["body"]),
        ({"jobs": [job()], "manifest": "s3://b/k"}, ["body"]),
        ({"jobs": [job()], "color": "red"}, ["body", "color"]),
        ({"jobs": [job()], "metadata": {"a": {"nested": 1}}}, ["body", "metadata"]),
        ({"jobs": [job()], "callback_url": "ftp://example.com/"}, ["body", "callback_url"]),
        ({"jobs": ["not a job"]}, ["body", "jobs", 0]),
    ],
)
def test_the_envelope_is_refused_precisely(document: dict[str, Any], loc: list[Any]) -> None:
    assert locs(refused(document))[0] == loc


def test_not_json_and_not_an_object_are_invalid_json() -> None:
    with pytest.raises(errors.MalformedBody):
        parse_inline_batch("client-a", b"{", None, True)
    with pytest.raises(errors.MalformedBody):
        parse([job()])


def test_500_jobs_are_accepted() -> None:
    assert len(parse({"jobs": [job(f"row-{i}") for i in range(MAX_INLINE_JOBS)]}).items) == MAX_INLINE_JOBS
