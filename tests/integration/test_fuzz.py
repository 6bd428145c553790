"""Property-based fuzzing of every entry point of the local stack (issue #16).

Hypothesis generates requests (mutated and poisoned valid jobs and uploads, random JSON, raw
bytes, JSON's non-standard tokens, lone surrogates, forged cursors, odd ids, methods, routes and
headers, signed random webhooks, SigV4-signed requests with bad credentials, dates, scopes and
changes after signing) and every answer must be ours: never a 5xx, always JSON with the
contract's error body, and a refused request changes nothing (no job row, no Magic Hour create).

FUZZ_EXAMPLES scales the run (examples per entry point, default 400: about 2,400 requests in
well under 90 s here); `make fuzz` runs it longer. FUZZ_REPORT names a file for the histogram.
"""

from __future__ import annotations

import base64
import json
import os
import time
from collections import Counter
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import quote, urlencode

import pytest
import requests
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from pipeline.magic_hour.catalogue import all_tools
from pipeline.models.job import JobStatus
from pipeline.webhook.signature import sign
from tests.fuzzing import (
    HEADER_VALUES,
    JSON_VALUES,
    LEAVES,
    TEXT,
    Body,
    answer_error,
    headers_for,
    mutate,
    poison,
    report_histogram,
    to_json,
    webhook_bodies,
)
from tests.schema_inputs import minimal_valid
from tests.sigv4_signing import signed_headers

EXAMPLES = int(os.environ.get("FUZZ_EXAMPLES", "400"))
FUZZ = settings(
    max_examples=EXAMPLES,
    deadline=None,
    database=None,  # nothing written into the repository; failures print their reproduction
    suppress_health_check=list(HealthCheck),
)
# Refusals after which a job is kept `failed` (Magic Hour looked at it): every other refusal
# must leave no row and no create.
KEPT = {"upstream_rejected", "insufficient_credits"}

HISTOGRAM: Counter[tuple[str, int]] = Counter()
SESSION = requests.Session()

TOOLS = sorted(all_tools())


@st.composite
def job_bodies(draw: st.DrawFn) -> Body:
    shape = draw(st.sampled_from(["valid", "poisoned", "poisoned", "mutated", "mutated", "json", "bytes"]))
    if shape == "bytes":
        return Body(draw(st.binary(max_size=200)))
    if shape == "json":
        return to_json(draw(JSON_VALUES))
    tool = draw(st.sampled_from(TOOLS))
    document: dict[str, Any] = {"tool": tool, "input": minimal_valid(all_tools()[tool].request_schema)}
    if draw(st.booleans()):
        document["name"] = draw(TEXT)
    if draw(st.booleans()):
        document["metadata"] = draw(st.dictionaries(TEXT, LEAVES, max_size=3))
    if draw(st.integers(0, 4)) == 0:
        document["callback_url"] = draw(
            st.sampled_from(["http://127.0.0.1:9/hook", "https://client.example/h"]) | TEXT
        )
    for _ in range(draw(st.integers(1, 3)) if shape == "mutated" else 0):
        document = mutate(document, draw)
    if shape == "poisoned":
        document = poison(document, draw)
    return to_json(document)


# -- checks ----------------------------------------------------------------------------------------


def check(entry: str, answer: requests.Response, allowed: set[int]) -> dict[str, Any] | None:
    """The answer is ours and allowed (tests/fuzzing.py); its error (or None)."""
    HISTOGRAM[(entry, answer.status_code)] += 1
    return answer_error(entry, answer, allowed)


@pytest.fixture
def quiet(stack) -> Any:
    """Accepted jobs stay `queued`: no webhooks, downloads or callbacks behind the fuzzing."""
    stack.scenario(webhook_send=False, render_seconds=3600)
    return stack


@pytest.fixture(scope="module", autouse=True)
def _histogram(request: pytest.FixtureRequest) -> Iterator[None]:
    started = time.monotonic()
    yield
    report_histogram(request, HISTOGRAM, time.monotonic() - started)


def _rows(stack, aws) -> int:
    table = stack.stack.resolver.resolve({"Ref": "JobsTable"})
    return int(aws("dynamodb").scan(TableName=table, Select="COUNT")["Count"])


# -- entry points ----------------------------------------------------------------------------------


def test_create_job(quiet, aws) -> None:
    stack = quiet
    rows = _rows(stack, aws)
    creates_at_start = stack.sim_stats()["creates"]
    kept: set[str] = set()

    @FUZZ
    @given(data=st.data())
    def run(data: st.DataObject) -> None:
        body = data.draw(job_bodies())
        extra: dict[str, str] = {}
        if data.draw(st.booleans()):
            extra["Idempotency-Key"] = data.draw(HEADER_VALUES | st.sampled_from(["k", "same-key"]))
        sent_headers = headers_for(data.draw, **extra)
        creates = stack.sim_stats()["creates"]
        answer = SESSION.post(f"{stack.api}/v1/jobs", data=body.raw, headers=sent_headers, timeout=30)
        error = check("POST /v1/jobs", answer, {202, 400, 401, 402, 409, 413, 422})
        key_ok = 1 <= len(extra.get("Idempotency-Key", "k")) <= 255  # HEADER_VALUES are printable ASCII
        if sent_headers.get("x-api-key") in ("key-alpha", "key-beta") and key_ok:
            if body.not_json:
                assert (error or {}).get("code") == "invalid_json", (answer.text, body.raw[:300])
            elif body.lone_surrogate and body.raw.startswith(b"{"):
                assert (error or {}).get("code") == "validation_failed", (answer.text, body.raw[:300])
        if error is None:
            kept.add(answer.json()["job_id"])
        elif error["code"] in KEPT:
            kept.add(error["details"][0]["msg"])
        else:
            assert stack.sim_stats()["creates"] == creates, (error, body.raw[:300])

    run()
    # Every row written and every project created belongs to an accepted (or kept) job.
    assert _rows(stack, aws) - rows == len(kept)
    assert stack.sim_stats()["creates"] - creates_at_start == len(kept)


def _issued_cursor(stack) -> tuple[str, str]:
    for _ in range(2):
        stack.post_job(
            {"tool": "ai-voice-generator", "input": {"style": {"prompt": "hi", "voice_name": "Elon Musk"}}}
        )
    plain = SESSION.get(f"{stack.api}/v1/jobs?limit=1", headers=stack.headers(), timeout=10).json()
    scoped = SESSION.get(
        f"{stack.api}/v1/jobs?limit=1&status=queued", headers=stack.headers(), timeout=10
    ).json()
    assert plain["next_cursor"]
    assert scoped["next_cursor"]
    return plain["next_cursor"], scoped["next_cursor"]


@st.composite
def cursors(draw: st.DrawFn, issued: tuple[str, str]) -> str:
    shape = draw(st.sampled_from(["issued", "flipped", "document", "forged", "key", "key", "text"]))
    base = draw(st.sampled_from(issued))
    if shape == "issued":
        return base
    if shape == "flipped":
        index = draw(st.integers(0, len(base) - 1))
        return base[:index] + draw(st.sampled_from("AZaz09-_=.%")) + base[index + 1 :]
    if shape == "text":
        return draw(TEXT)
    if shape == "document":
        document: Any = draw(JSON_VALUES)
    elif shape == "key":  # the issued key with parts left out, added or changed
        document = json.loads(base64.urlsafe_b64decode(base + "=" * (-len(base) % 4)))
        names = sorted(document["k"])
        kept = draw(st.lists(st.sampled_from(names), unique=True, max_size=len(names)))
        key = {name: document["k"][name] for name in kept}
        for _ in range(draw(st.integers(0, 2))):
            key[draw(st.sampled_from([*names, "status", "project_id"]) | TEXT)] = draw(TEXT)
        document["k"] = key
    else:
        document = json.loads(base64.urlsafe_b64decode(base + "=" * (-len(base) % 4)))
        document = mutate(document, draw)
    return base64.urlsafe_b64encode(to_json(document).raw).decode().rstrip("=")


def test_list_jobs(quiet) -> None:
    stack = quiet
    issued = _issued_cursor(stack)
    statuses = st.sampled_from([s.value for s in JobStatus]) | TEXT

    @FUZZ
    @given(data=st.data())
    def run(data: st.DataObject) -> None:
        query: dict[str, str] = {}
        if data.draw(st.booleans()):
            query["status"] = data.draw(statuses)
        if data.draw(st.booleans()):
            query["limit"] = data.draw(st.sampled_from(["1", "100", "0", "101", "-1", "1e2", "٣"]) | TEXT)
        if data.draw(st.booleans()):
            query["cursor"] = data.draw(cursors(issued))
        encoded = urlencode({k: v.encode("utf-8", "surrogatepass") for k, v in query.items()})
        answer = SESSION.get(f"{stack.api}/v1/jobs?{encoded}", headers=headers_for(data.draw), timeout=30)
        check("GET /v1/jobs", answer, {200, 400, 401, 422})

    run()


def test_get_job(quiet) -> None:
    stack = quiet
    real = stack.post_job(
        {"tool": "ai-voice-generator", "input": {"style": {"prompt": "hi", "voice_name": "Elon Musk"}}}
    )
    job_id = real.json()["job_id"]

    @FUZZ
    @given(data=st.data())
    def run(data: st.DataObject) -> None:
        candidate = data.draw(
            st.sampled_from([job_id, job_id.upper(), job_id + "x", "job_" + "a" * 26, "..", "%2e%2e"]) | TEXT
        )
        path = quote(candidate.encode("utf-8", "surrogatepass"), safe="") or "x"
        answer = SESSION.get(f"{stack.api}/v1/jobs/{path}", headers=headers_for(data.draw), timeout=30)
        check("GET /v1/jobs/{id}", answer, {200, 401, 404})

    run()


def test_tools_and_routes(quiet) -> None:
    stack = quiet
    methods = st.sampled_from(["GET", "POST", "PUT", "DELETE", "PATCH", "OPTIONS", "TRACE", "PROPFIND"]) | (
        st.from_regex(r"[A-Z]{1,10}", fullmatch=True)
    )
    known = st.sampled_from(
        ["/v1/tools", "/v1/jobs", "/v1/jobs/x", "/webhooks/magic-hour", "/v1", "/", "/v1/tools/"]
    )
    segments = st.lists(st.text(max_size=8).map(lambda s: quote(s, safe="")), max_size=4).map(
        lambda p: "/" + "/".join(p)
    )

    @FUZZ
    @given(data=st.data())
    def run(data: st.DataObject) -> None:
        method, path = data.draw(methods), data.draw(known | segments)
        if data.draw(st.integers(0, 3)) == 0:  # the tool list itself, with fuzzed query and headers
            method, path = "GET", "/v1/tools"
        query = data.draw(st.sampled_from(["", "?x=1", "?status=queued", "?%ff=%fe"]))
        body = data.draw(st.binary(max_size=50)) if method not in ("GET", "HEAD") else b""
        answer = SESSION.request(
            method, f"{stack.api}{path}{query}", data=body, headers=headers_for(data.draw), timeout=30
        )
        entry = "GET /v1/tools" if (method, path) == ("GET", "/v1/tools") else "other routes"
        check(entry, answer, {200, 202, 400, 401, 404, 409, 413, 422})

    run()


def test_webhooks(quiet) -> None:
    stack = quiet

    @FUZZ
    @given(data=st.data())
    def run(data: st.DataObject) -> None:
        body = data.draw(webhook_bodies())
        offset = data.draw(st.sampled_from([0] * 9 + [-301, 400]))
        timestamp = str(int(time.time()) + offset)
        headers = {"Content-Type": "application/json", "magic-hour-event-timestamp": timestamp}
        signing = data.draw(st.sampled_from(["good"] * 9 + ["wrong", "none", "garbage"]))
        if signing == "good":
            headers["magic-hour-event-signature"] = sign(stack.webhook_secret, timestamp, body.raw)
        elif signing == "wrong":
            headers["magic-hour-event-signature"] = sign("whsec_not_ours", timestamp, body.raw)
        elif signing == "garbage":
            headers["magic-hour-event-signature"] = data.draw(HEADER_VALUES)
        answer = SESSION.post(f"{stack.api}/webhooks/magic-hour", data=body.raw, headers=headers, timeout=30)
        error = check("POST /webhooks/magic-hour", answer, {200, 400, 401, 413})
        if signing == "good" and offset == 0 and (body.not_json or body.lone_surrogate):
            assert (error or {}).get("code") == "invalid_json", (answer.text, body.raw[:300])

    run()


@st.composite
def upload_bodies(draw: st.DrawFn) -> Body:
    shape = draw(st.sampled_from(["upload", "upload", "upload", "json", "bytes"]))
    if shape == "bytes":
        return Body(draw(st.binary(max_size=100)))
    if shape == "json":
        return to_json(draw(JSON_VALUES))
    document: dict[str, Any] = {
        "extension": draw(st.sampled_from(["mp4", "png", "mp3", "MP4", "exe"]) | TEXT)
    }
    if draw(st.booleans()):
        document["content_type"] = draw(st.sampled_from(["video/mp4", "image/png", "x"]) | TEXT)
    if draw(st.booleans()):
        poisoned = poison(document, draw, ("extension", "content_type"))
        document = poisoned if draw(st.booleans()) else mutate(document, draw)
    return to_json(document)


def test_uploads(quiet) -> None:
    stack = quiet

    @FUZZ
    @given(data=st.data())
    def run(data: st.DataObject) -> None:
        body = data.draw(upload_bodies())
        headers = headers_for(data.draw)
        answer = SESSION.post(f"{stack.api}/v1/uploads", data=body.raw, headers=headers, timeout=30)
        check("POST /v1/uploads", answer, {201, 400, 401, 413, 422})

    run()


# -- SigV4-signed requests (LOCAL_IAM_CALLERS, tests/conftest.py) ----------------------------------

SIGNERS = st.sampled_from(
    [("AKIDALPHA", "alpha-secret")] * 6
    + [("AKIDBETA", "beta-secret"), ("AKIDALPHA", "wrong"), ("AKIDNOBODY", "x")]
)
# Seconds the signature's date is off our clock: inside the 5-minute window, or outside it.
CLOCK_OFFSETS = st.sampled_from([0] * 6 + [-290, 290, -310, 310, -86400])
CHANGES = st.sampled_from(
    ["none"] * 6
    + [
        "body",
        "signed header changed",
        "signed header dropped",
        "path",
        "signature",
        "garbled",
        "key-beta",
        "key-alpha",
    ]
)


@st.composite
def garbled_authorization(draw: st.DrawFn, authorization: str) -> str:
    """Still a SigV4 claim ("AWS4-..."), with parts missing, repeated or replaced."""
    parts = authorization.split(", ")
    shape = draw(st.sampled_from(["drop", "text", "credential", "algorithm"]))
    if shape == "drop":
        del parts[draw(st.integers(1, len(parts) - 1))]
    elif shape == "text":
        parts[draw(st.integers(1, len(parts) - 1))] = draw(HEADER_VALUES)
    elif shape == "credential":
        parts[0] = "AWS4-HMAC-SHA256 Credential=" + "/".join(draw(st.lists(HEADER_VALUES, max_size=7)))
    else:
        parts[0] = parts[0].replace(
            "AWS4-HMAC-SHA256", draw(st.sampled_from(["AWS4-HMAC-SHA1", "AWS4-", "AWS4-X"]))
        )
    return ", ".join(parts)


def test_signed_requests(quiet, aws) -> None:
    stack = quiet
    rows = _rows(stack, aws)
    creates_at_start = stack.sim_stats()["creates"]
    host = stack.api.removeprefix("http://")
    accepted: set[str] = set()

    @FUZZ
    @given(data=st.data())
    def run(data: st.DataObject) -> None:
        (key_id, secret), offset, change = data.draw(SIGNERS), data.draw(CLOCK_OFFSETS), data.draw(CHANGES)
        scope = data.draw(
            st.sampled_from(
                [("us-east-1", "execute-api")] * 8 + [("eu-west-1", "execute-api"), ("us-east-1", "s3")]
            )
        )
        body = data.draw(job_bodies()).raw
        extra = {name: value for name, value in headers_for(data.draw).items() if name != "x-api-key"}
        headers = signed_headers(
            "POST",
            f"{stack.api}/v1/jobs",
            body,
            key_id,
            secret,
            headers={"Host": host, **extra},
            at=datetime.now(UTC) + timedelta(seconds=offset),
            region=scope[0],
            service=scope[1],
        )
        path = "/v1/jobs"
        if change == "body":
            body = body + data.draw(st.sampled_from([b" ", b"\n", b"0"]))
        elif change == "signed header changed":
            headers["Content-Type"] = headers["Content-Type"] + "x"
        elif change == "signed header dropped":
            del headers["Content-Type"]
        elif change == "path":
            path = "/v1/uploads"
        elif change == "signature":
            signature = headers["Authorization"]
            tail = data.draw(st.from_regex(r"[0-9a-f]{4}", fullmatch=True))
            if tail == signature[-4:]:
                tail = f"{(int(tail, 16) + 1) % 0x10000:04x}"
            headers["Authorization"] = signature[:-4] + tail
        elif change == "garbled":
            headers["Authorization"] = data.draw(garbled_authorization(headers["Authorization"]))
        elif change.startswith("key-"):
            headers["x-api-key"] = change
        creates = stack.sim_stats()["creates"]
        answer = SESSION.post(f"{stack.api}{path}", data=body, headers=headers, timeout=30)
        error = check("signed POST", answer, {201, 202, 400, 402, 403, 409, 413, 422})
        valid = (
            key_id in ("AKIDALPHA", "AKIDBETA")
            and secret != "wrong"
            and abs(offset) < 300
            and scope == ("us-east-1", "execute-api")
            # An API key beside the signature must name the same client.
            and change in ("none", {"AKIDALPHA": "key-alpha", "AKIDBETA": "key-beta"}.get(key_id))
        )
        if not valid:
            # A signature API Gateway refuses never reaches our code: 403, and nothing written.
            assert error is not None, (change, key_id, offset, scope, answer.text)
            assert answer.status_code == 403, (change, key_id, offset, scope, answer.text)
            assert error["code"] == "forbidden"
            assert stack.sim_stats()["creates"] == creates
        elif error is None:
            accepted.add(answer.json()["job_id"])
        elif error["code"] in KEPT:
            accepted.add(error["details"][0]["msg"])
        else:
            assert answer.status_code != 403, answer.text  # a good signature is never refused
            assert stack.sim_stats()["creates"] == creates

    run()
    assert _rows(stack, aws) - rows == len(accepted)
    assert stack.sim_stats()["creates"] - creates_at_start == len(accepted)
