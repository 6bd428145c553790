"""Issue #16: bad input is refused with a precise 4xx before anything is written or sent, and what
Magic Hour answers is stored safely whatever its numbers (each case here once answered 503)."""

from __future__ import annotations

import base64
import json
from collections.abc import Iterator
from typing import Any

import pytest

from pipeline import http
from pipeline.jobs import errors
from pipeline.jobs.job_view import to_resource
from pipeline.magic_hour.catalogue import (
    DEFAULT_NUMBER_BOUND,
    INPUT_BOUNDS,
    all_tools,
    check_input,
    find_tool,
)
from pipeline.magic_hour.credits import MAX_CREDITS, storable_credits
from pipeline.models.job import Job, JobError, JobStatus
from pipeline.models.webhook_events import ProjectPayload
from pipeline.platform import strict_json
from pipeline.store import cursor as cursor_codec
from pipeline.submit.validation import parse_submission
from pipeline.webhook import webhook_delivery
from tests.magic_hour_answers import create, response
from tests.schema_inputs import minimal_valid
from tests.unit.test_callback_ports import allow_any_callback_port

GOOD: dict[str, Any] = {"tool": "ai-image-generator", "input": {"image_count": 1, "style": {"prompt": "fox"}}}


def refused(raw: bytes | str, require_https: bool = False) -> errors.RequestRefused:
    data = raw.encode() if isinstance(raw, str) else raw
    with pytest.raises(errors.RequestRefused) as caught:
        parse_submission("client-a", data, None, require_https)
    return caught.value


def body(**changes: Any) -> str:
    return json.dumps({**GOOD, **changes})


# -- 1. callback URLs ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "url",
    [
        "http://[::1",
        "https://[x]/",
        "https://[::1/hook",
        "https://client.example:99999/hook",
        "https://client.example:65536/hook",
        "https://client.example:0/hook",
        "https://client.example:-1/hook",
        "https://client.example:http/hook",
        "https://cli ent.example/hook",
        "https://client.example/ho ok",
        "https://client.example/\x00",
        "https://cl\u00e9.example/hook",
        "https://-client.example/hook",
        "https://client..example/hook",
        "https://" + "a" * 64 + ".example/hook",
        "https://client.example%2f/hook",
    ],
)
def test_callback_urls_that_are_no_usable_url_are_422(url: str) -> None:
    error = refused(body(callback_url=url))
    assert isinstance(error, errors.ValidationFailed)
    assert error.details == [{"loc": ["body", "callback_url"], "msg": error.details[0]["msg"]}]


@pytest.mark.parametrize(
    "url",
    [
        "https://client.example/hooks/magic?x=1",
        "https://client.example:65535/hook",
        "https://client.example:1/hook",
        "http://127.0.0.1:8080/hook",
        "http://[::1]:8080/hook",
        "https://xn--cl-dma.example/hook",
        "http://callback_receiver.internal/hook",
        "https://client.example./hook",
    ],
)
def test_good_callback_urls_are_accepted(url: str, monkeypatch: pytest.MonkeyPatch) -> None:
    allow_any_callback_port(monkeypatch)  # as locally: several of these are on test ports
    submission = parse_submission("client-a", body(callback_url=url).encode(), None, False)
    assert submission.request.callback_url == url


# -- 3. lone surrogates ----------------------------------------------------------------------------

# json.dumps writes a lone surrogate as the escape "\udd9c" (ASCII), exactly what a client sends.


@pytest.mark.parametrize(
    ("document", "loc"),
    [
        ({**GOOD, "metadata": {"k": "\udd9c"}}, ["body", "metadata", "k"]),
        ({**GOOD, "name": "\udbff"}, ["body", "name"]),
        ({**GOOD, "name": "ok \ud800 then"}, ["body", "name"]),
        ({**GOOD, "metadata": {"\udd9c": "v"}}, ["body", "metadata"]),
        (
            {**GOOD, "input": {"image_count": 1, "style": {"prompt": "\udfff"}}},
            ["body", "input", "style", "prompt"],
        ),
        (
            {**GOOD, "input": {"image_count": 1, "style": {"prompt": "x", "tags": ["a", "\ud83d"]}}},
            ["body", "input", "style", "tags", 1],
        ),
        ({**GOOD, "callback_url": "https://client.example/\udd9c"}, ["body", "callback_url"]),
        ({**GOOD, "tool": "\udd9c"}, ["body", "tool"]),
        ({**GOOD, "\udd9c": 1}, ["body"]),
    ],
)
def test_lone_surrogates_anywhere_are_422_naming_the_field(document: dict[str, Any], loc: list[Any]) -> None:
    error = refused(json.dumps(document))
    assert isinstance(error, errors.ValidationFailed)
    assert error.details is not None
    assert error.details[0]["loc"] == loc
    # The answer itself must be writable as UTF-8 (a surrogate echoed back would break it).
    str(http.error_response(error).body).encode("utf-8")


def test_a_surrogate_pair_is_one_character_and_accepted() -> None:
    submission = parse_submission("client-a", body(name="fox \ud83e\udd8a").encode(), None, False)
    assert submission.request.name == "fox \U0001f98a"


def test_lone_surrogate_search_survives_the_deepest_document_the_parser_takes() -> None:
    deep: Any = "\udd9c"
    for _ in range(5000):
        deep = [deep]
    found = strict_json.lone_surrogate(deep)
    assert found is not None
    assert len(found[0]) == 5000


# -- 4. numbers Magic Hour would answer with unstorable credits --------------------------------------


def test_end_seconds_1e60_on_audio_to_video_is_422() -> None:
    tool = find_tool("audio-to-video")
    assert tool is not None
    tool_input = {**minimal_valid(tool.request_schema), "end_seconds": 1e60}
    error = refused(json.dumps({"tool": "audio-to-video", "input": tool_input}))
    assert isinstance(error, errors.ValidationFailed)
    assert error.details == [{"loc": ["body", "input", "end_seconds"], "msg": error.details[0]["msg"]}]


@pytest.mark.parametrize("field", sorted(INPUT_BOUNDS))
def test_every_bounded_field_has_its_bound_and_refuses_above_it(field: str) -> None:
    seen = 0
    for tool in all_tools().values():
        for path, schema in _numbers(tool.request_schema):
            if path[-1] != field:
                continue
            seen += 1
            assert schema["maximum"] <= INPUT_BOUNDS[field][1]
            if "[]" in path:  # inside an array: the bound is there, building an input is not worth it
                continue
            base = minimal_valid(tool.request_schema)
            assert check_input(tool, _set(base, path, schema["maximum"] * 10 + 1)) is not None, (
                tool.name,
                path,
            )
    assert seen, f"{field} bounds no field of any tool"


def test_numbers_the_spec_leaves_open_get_the_default_bound() -> None:
    tool = find_tool("ai-image-upscaler")
    assert tool is not None
    # scale_factor has no bound in the spec; ours applies.
    assert tool.request_schema["properties"]["scale_factor"]["maximum"] == INPUT_BOUNDS["scale_factor"][1]
    unnamed = [
        schema
        for tool in all_tools().values()
        for path, schema in _numbers(tool.request_schema)
        if path[-1] not in INPUT_BOUNDS
    ]
    assert unnamed
    assert all("maximum" in s or "exclusiveMaximum" in s for s in unnamed)
    assert all(s.get("maximum", 0) <= DEFAULT_NUMBER_BOUND for s in unnamed)


def test_spec_bounds_are_never_loosened() -> None:
    tool = find_tool("image-to-video")
    assert tool is not None
    assert tool.request_schema["properties"]["end_seconds"]["maximum"] == 60


def _numbers(schema: Any, path: tuple[str, ...] = ()) -> Iterator[tuple[tuple[str, ...], dict[str, Any]]]:
    if not isinstance(schema, dict):
        return
    if schema.get("type") in ("number", "integer") and path:
        yield path, schema
    for name, sub in (schema.get("properties") or {}).items():
        yield from _numbers(sub, (*path, name))
    if isinstance(schema.get("items"), dict):
        yield from _numbers(schema["items"], (*path, "[]"))


def _set(document: dict[str, Any], path: tuple[str, ...], value: Any) -> dict[str, Any]:
    copy = json.loads(json.dumps(document))
    node = copy
    for name in path[:-1]:
        node = node.setdefault(name, {})
    node[path[-1]] = value
    return copy


@pytest.mark.parametrize(
    ("value", "stored", "flagged"),
    [
        (None, None, False),
        (0, 0, False),
        (450, 450, False),
        (450.0, 450, False),
        (MAX_CREDITS, MAX_CREDITS, False),
        (MAX_CREDITS + 1, None, True),
        (10**62, None, True),
        (1e62, None, True),
        (-5, None, True),
        (True, None, True),
        ("450", None, True),
        (4.5, None, True),
        (float("nan"), None, True),
        ([450], None, True),
    ],
)
def test_storable_credits(value: Any, stored: int | None, flagged: bool) -> None:
    assert storable_credits(value) == (stored, flagged)


def test_create_answer_with_absurd_credits_keeps_the_project() -> None:
    created = create(response(200, {"id": "cm2fphlo3000dmfhu8m0dh63z", "credits_charged": 10**62}))
    assert (created.project_id, created.credits_charged, created.credits_out_of_range) == (
        "cm2fphlo3000dmfhu8m0dh63z",
        None,
        True,
    )


def test_create_answer_with_negative_credits_keeps_the_project() -> None:
    created = create(response(200, {"id": "p1", "credits_charged": -1}))
    assert (created.project_id, created.credits_charged, created.credits_out_of_range) == ("p1", None, True)


@pytest.fixture
def _metrics(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("POWERTOOLS_METRICS_NAMESPACE", "test")


@pytest.mark.usefixtures("_metrics")
@pytest.mark.parametrize("credits_json", ["1" + "0" * 62, "1e62", "-450", "true", '"lots"'])
def test_webhook_with_unstorable_credits_is_applied_with_credits_unknown(credits_json: str) -> None:
    raw = (
        '{"type":"video.completed","payload":{"id":"cm2fphlo3000dmfhu8m0dh63z","status":"complete",'
        f'"credits_charged":{credits_json},"downloads":[]}}}}'
    ).encode()
    event = webhook_delivery.parse(raw)
    assert event.payload.credits_charged is None
    assert event.payload.credits_out_of_range is True


def test_webhook_with_good_credits_keeps_them() -> None:
    payload = ProjectPayload.model_validate({"id": "p", "credits_charged": 450})
    assert (payload.credits_charged, payload.credits_out_of_range) == (450, False)


# -- 9. NaN / Infinity in webhooks -------------------------------------------------------------------


@pytest.mark.usefixtures("_metrics")
@pytest.mark.parametrize(
    "raw",
    [
        b'{"type":NaN,"payload":{"id":"x"}}',
        b'{"type":"video.started","payload":{"id":"x","credits_charged":Infinity}}',
        b'{"type":"video.started","payload":{"id":"x","credits_charged":-Infinity}}',
        b'{"type":"video.started","payload":{"id":"x","credits_charged":1e400}}',
        b'{"type":"video.started","payload":{"id":"\\udd9c"}}',
    ],
)
def test_webhook_bodies_that_are_not_strict_json_are_invalid_json(raw: bytes) -> None:
    with pytest.raises(errors.RequestRefused) as caught:
        webhook_delivery.parse(raw)
    assert isinstance(caught.value, errors.MalformedBody)


# -- 2. cursors --------------------------------------------------------------------------------------

JOB_ID = "job_abcdefghijklmnopqrstuvwxyz"
CREATED = f"2026-12-01T07:00:00.000Z#{JOB_ID}"


def cursor(document: Any) -> str:
    return base64.urlsafe_b64encode(json.dumps(document).encode()).decode().rstrip("=")


def test_issued_cursors_decode() -> None:
    plain = {"job_id": JOB_ID, "client_id": "client-a", "client_created": CREATED}
    issued = cursor_codec.encode(plain, "client-a", "")
    assert cursor_codec.decode(issued, "client-a", "") == plain
    scoped = {"job_id": JOB_ID, "client_status": "client-a#waiting", "client_created": CREATED}
    issued = cursor_codec.encode(scoped, "client-a", "waiting")
    assert cursor_codec.decode(issued, "client-a", "waiting") == scoped


@pytest.mark.parametrize(
    ("document", "scope"),
    [
        ({"c": "client-a", "s": "", "k": {}}, ""),
        ({"c": "client-a", "s": "", "k": {"job_id": JOB_ID}}, ""),
        ({"c": "client-a", "s": "", "k": {"job_id": JOB_ID, "client_id": "client-a"}}, ""),
        ({"c": "client-a", "s": "", "k": {"job_id": JOB_ID, "client_created": CREATED}}, ""),
        (
            {
                "c": "client-a",
                "s": "",
                "k": {"job_id": "x", "client_id": "client-a", "client_created": CREATED},
            },
            "",
        ),
        (
            {
                "c": "client-a",
                "s": "",
                "k": {"job_id": JOB_ID, "client_id": "client-a", "client_created": "x"},
            },
            "",
        ),
        (
            {
                "c": "client-a",
                "s": "",
                "k": {
                    "job_id": JOB_ID,
                    "client_id": "client-a",
                    "client_created": "2026-12-01T07:00:00.000Z#job_other",
                },
            },
            "",
        ),
        (
            {
                "c": "client-a",
                "s": "",
                "k": {"job_id": JOB_ID, "client_id": "client-b", "client_created": CREATED},
            },
            "",
        ),
        (
            {
                "c": "client-a",
                "s": "",
                "k": {"job_id": JOB_ID, "client_id": "client-a", "client_created": CREATED, "extra": "x"},
            },
            "",
        ),
        (
            {
                "c": "client-a",
                "s": "queued",
                "k": {"job_id": JOB_ID, "client_id": "client-a", "client_created": CREATED},
            },
            "queued",
        ),
        (
            {
                "c": "client-a",
                "s": "queued",
                "k": {"job_id": JOB_ID, "client_status": "client-a#failed", "client_created": CREATED},
            },
            "queued",
        ),
        (
            {
                "c": "client-a",
                "s": "",
                "k": {"job_id": 1, "client_id": "client-a", "client_created": CREATED},
            },
            "",
        ),
        ({"c": "client-a", "s": "", "k": ["job_id"]}, ""),
        ({"c": "client-a", "s": ""}, ""),
        (["c", "s", "k"], ""),
        ("client-a", ""),
        (None, ""),
    ],
)
def test_forged_cursors_are_refused_before_they_reach_dynamodb(document: Any, scope: str) -> None:
    with pytest.raises(cursor_codec.InvalidCursor):
        cursor_codec.decode(cursor(document), "client-a", scope)


@pytest.mark.parametrize(
    "raw", ["!!!", "a", "\u00e9t\u00e9", "x" * 5000, base64.b64encode(b"\xff\xfe").decode()]
)
def test_garbage_cursors_are_refused(raw: str) -> None:
    with pytest.raises(cursor_codec.InvalidCursor):
        cursor_codec.decode(raw, "client-a", "")


# -- 8. the callback shows from the start ----------------------------------------------------------


def _job(**fields: Any) -> Job:
    return Job(
        job_id=JOB_ID,
        client_id="client-a",
        tool="face-swap",
        kind="video",
        status=JobStatus.SUBMITTING,
        created_at="2026-12-01T07:00:00.000Z",
        updated_at="2026-12-01T07:00:00.000Z",
        **fields,
    )


def test_a_job_with_a_callback_url_shows_it_pending_from_the_start() -> None:
    resource = to_resource(_job(callback_url="https://client.example/hook"))
    assert resource.callback is not None
    assert resource.callback.model_dump() == {"state": "pending", "attempts": 0, "last_error": None}


def test_a_job_without_a_callback_url_shows_none() -> None:
    assert to_resource(_job()).callback is None


def test_a_delivered_callback_shows_as_delivered() -> None:
    resource = to_resource(
        _job(callback_url="https://client.example/hook", callback_state="delivered", callback_attempts=2)
    )
    assert resource.callback is not None
    assert (resource.callback.state, resource.callback.attempts) == ("delivered", 2)


def test_webhook_error_text_is_bounded_not_refused() -> None:
    payload = ProjectPayload.model_validate(
        {"id": "p", "error": {"code": "c" * 5000, "message": "m" * 900_000}}
    )
    assert payload.error is not None
    assert (len(payload.error.code), len(payload.error.message)) == (100, 1000)


def test_webhook_error_with_null_fields_gets_the_defaults() -> None:
    payload = ProjectPayload.model_validate({"id": "p", "error": {"code": None, "message": None}})
    assert payload.error is not None
    assert (payload.error.code, payload.error.message) == ("unknown_error", "")


def test_a_job_stored_with_lone_surrogates_still_renders_as_json() -> None:
    # Stored before the edge refused them (or sent by Magic Hour): the listing must not 503.
    job = _job(
        name="\udbff",
        metadata={"\udd9c": "v\ud800"},
        error=JobError(code="x\udfff", message="m\udd9c", source="magic_hour"),
    )
    rendered = to_resource(job).model_dump_json()
    assert json.loads(rendered)["name"] == "\ufffd"
    assert json.loads(rendered)["metadata"] == {"\ufffd": "v\ufffd"}
    assert json.loads(rendered)["error"]["message"] == "m\ufffd"
