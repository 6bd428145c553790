"""Property-based fuzzing of the routes of batches, cancels, sized uploads and the webhook's secret
path (issue #28; the older entry points are test_fuzz.py's), over HTTP on a stack of its own.

Hypothesis generates bodies (mutated, poisoned and malformed batches, inline and by manifest, and
manifests' own lines), ids in paths (the client's own, another client's, well-formed unknown ones,
garbage), query strings (limits, statuses, issued, forged and foreign cursors) and headers (API
keys, webhook signatures, Magic Hour bearer tokens). Every answer must be ours and precise: never
a 5xx, always the contract's error body with the code the case calls for, another client's ids
answered exactly as unknown ones, and a refused request changes nothing (every item of every
table, the input bucket's keys and the simulator's creates are the same before and after).

The world is static while it is fuzzed: one Magic Hour slot (MagicHourMaxConcurrency=1) held by a
render that never ends, so every later job waits and no background function writes anything.
FUZZ_EXAMPLES scales the run (examples per entry point, a quarter of test_fuzz.py's: 100 by
default: about 850 requests in about 80 s here, the stack's start included); `make fuzz` runs it longer.
"""

from __future__ import annotations

import base64
import hashlib
import json
import os
import time
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote, urlencode

import pytest
import requests
from conftest import MAGIC_HOUR_KEY, StackHandle, start_stack
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from local.config import DEFAULT_WEBHOOK_PATH_TOKEN
from pipeline.magic_hour.catalogue import all_tools
from pipeline.models.job import JobStatus
from pipeline.webhook.signature import sign
from tests.fuzzing import (
    HEADER_VALUES,
    JSON_VALUES,
    LEAVES,
    NASTY,
    TEXT,
    Body,
    answer_error,
    mutate,
    report_histogram,
    to_json,
    webhook_bodies,
)
from tests.schema_inputs import minimal_valid

EXAMPLES = max(10, int(os.environ.get("FUZZ_EXAMPLES", "400")) // 4)
FUZZ = settings(
    max_examples=EXAMPLES,
    deadline=None,
    database=None,  # nothing written into the repository; failures print their reproduction
    suppress_health_check=list(HealthCheck),
)
HISTOGRAM: Counter[tuple[str, int]] = Counter()
SESSION = requests.Session()
VOICE = {"tool": "ai-voice-generator", "input": {"style": {"prompt": "hi", "voice_name": "Elon Musk"}}}
TOOLS = sorted(all_tools())
MAX_UPLOAD_BYTES = 1024**3  # the template's default MaxUploadBytes
# A batch of client-gamma's costs more than its budget once it holds more than one voice job.
GAMMA_BUDGET = 30


def check(entry: str, answer: requests.Response, allowed: set[int]) -> dict[str, Any] | None:
    HISTOGRAM[(entry, answer.status_code)] += 1
    return answer_error(entry, answer, allowed)


def seen(answer: requests.Response) -> tuple[int, Any]:
    return answer.status_code, answer.json()


# -- the world -------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def fuzzed(tmp_path_factory: pytest.TempPathFactory) -> Iterator[StackHandle]:
    with pytest.MonkeyPatch.context() as env:
        env.setenv("LOCAL_CLIENT_BUDGETS", f"client-gamma={GAMMA_BUDGET}")
        stack, handle = start_stack(
            tmp_path_factory,
            schedule_seconds=3600,
            # One slot; no upload quota, which a long `make fuzz` of manifests would use up.
            parameters={"MagicHourMaxConcurrency": "1", "DailyUploadQuota": "0"},
        )
    try:
        yield handle
    finally:
        stack.stop()


@dataclass(frozen=True)
class World:
    stack: StackHandle
    snapshot: Callable[[], str]
    holder: str  # alpha's job holding the only slot (`queued`: sent to Magic Hour)
    waiting: str  # alpha's job waiting for it
    canceled: str  # alpha's job its cancel ended
    beta_waiting: str  # beta's job waiting
    running: str  # alpha's batch whose two jobs wait
    ended: str  # alpha's batch ended `canceled`
    beta_batch: str  # beta's running batch
    batches_cursor: str  # alpha's GET /v1/batches?limit=1 next_cursor
    beta_batches_cursor: str
    jobs_cursors: dict[str, str]  # GET /v1/batches/{running}/jobs?limit=1 next_cursor, by status ("": none)
    beta_jobs_cursor: str
    manifests: dict[str, str]  # alpha's manifests by what they hold; "beta": beta's good one

    @property
    def api(self) -> str:
        return self.stack.api


def _json(answer: requests.Response, status: int) -> dict[str, Any]:
    assert answer.status_code == status, answer.text
    return dict(answer.json())


def _post(stack: StackHandle, path: str, body: Any, key: str = "key-alpha") -> requests.Response:
    return SESSION.post(f"{stack.api}{path}", json=body, headers=stack.headers(key), timeout=30)


def _get(stack: StackHandle, path: str, key: str = "key-alpha") -> requests.Response:
    return SESSION.get(f"{stack.api}{path}", headers=stack.headers(key), timeout=30)


def upload(stack: StackHandle, data: bytes, key: str = "key-alpha") -> str:
    made = _json(_post(stack, "/v1/uploads", {"extension": "jsonl"}, key), 201)
    assert requests.put(made["upload_url"], data=data, timeout=30).status_code == 200
    return str(made["file_path"])


def lines(*documents: Any) -> bytes:
    return b"".join(json.dumps(document).encode() + b"\n" for document in documents)


def snapshot_of(stack: StackHandle) -> Callable[[], str]:
    """A digest of everything a request could write: every item of every table, the input
    bucket's keys (uploads, manifests' copies), the simulator's creates."""
    from local.resources import client

    dynamodb, s3 = client("dynamodb", stack.aws, "us-east-1"), client("s3", stack.aws, "us-east-1")
    refs = stack.stack.resolver.refs
    tables = [refs[name] for name in ("JobsTable", "ClientsTable", "CallbackLanesTable")]
    bucket = refs["InputBucket"]

    def snapshot() -> str:
        state: list[Any] = []
        for table in tables:
            items = [
                item
                for page in dynamodb.get_paginator("scan").paginate(TableName=table)
                for item in page["Items"]
            ]
            state.append(sorted(json.dumps(item, sort_keys=True, default=str) for item in items))
        keys = [
            found["Key"]
            for page in s3.get_paginator("list_objects_v2").paginate(Bucket=bucket)
            for found in page.get("Contents", [])
        ]
        state.append(sorted(keys))
        state.append(stack.sim_stats()["creates"])
        return hashlib.sha256(json.dumps(state).encode()).hexdigest()

    return snapshot


@pytest.fixture(scope="module")
def world(fuzzed: StackHandle) -> World:
    stack = fuzzed
    # Nothing Magic Hour holds ever ends: the slot stays taken, so every other job waits.
    stack.scenario(webhook_send=False, render_seconds=3600)
    holder = _json(stack.post_job(VOICE), 202)["job_id"]
    stack.wait_for(holder, {"queued"})
    waiting = _json(stack.post_job(VOICE), 202)
    canceled = _json(stack.post_job(VOICE), 202)
    beta_waiting = _json(stack.post_job(VOICE, key="key-beta"), 202)
    assert (waiting["status"], canceled["status"], beta_waiting["status"]) == ("waiting",) * 3
    _json(_post(stack, f"/v1/jobs/{canceled['job_id']}/cancel", None), 202)

    def batch(count: int, key: str = "key-alpha") -> str:
        jobs = [{"custom_id": f"row-{i}", **VOICE} for i in range(count)]
        return str(_json(_post(stack, "/v1/batches", {"jobs": jobs}, key), 202)["batch_id"])

    ended = batch(1)
    _json(_post(stack, f"/v1/batches/{ended}/cancel", None), 202)
    assert _json(_get(stack, f"/v1/batches/{ended}"), 200)["status"] == "canceled"
    running = batch(2)
    beta_batch, _ = batch(2, "key-beta"), batch(1, "key-beta")

    def cursor(path: str, key: str = "key-alpha") -> str:
        next_cursor = _json(_get(stack, path, key), 200)["next_cursor"]
        assert next_cursor, path
        return str(next_cursor)

    good = [{"custom_id": f"m-{i}", **VOICE} for i in range(2)]
    manifests = {
        "good": upload(stack, lines(*good)),
        "bad line": upload(stack, lines(good[0], {"custom_id": "m-1", "tool": "ai-voice-generator"})),
        "duplicate": upload(stack, lines(good[0], good[0])),
        "not utf-8": upload(stack, lines(good[0]) + b"\xff\xfe{}\n"),
        "empty": upload(stack, b""),
        "beta": upload(stack, lines(*good), "key-beta"),
    }
    return World(
        stack=stack,
        snapshot=snapshot_of(stack),
        holder=holder,
        waiting=waiting["job_id"],
        canceled=canceled["job_id"],
        beta_waiting=beta_waiting["job_id"],
        running=running,
        ended=ended,
        beta_batch=beta_batch,
        batches_cursor=cursor("/v1/batches?limit=1"),
        beta_batches_cursor=cursor("/v1/batches?limit=1", "key-beta"),
        jobs_cursors={
            "": cursor(f"/v1/batches/{running}/jobs?limit=1"),
            "waiting": cursor(f"/v1/batches/{running}/jobs?limit=1&status=waiting"),
        },
        beta_jobs_cursor=cursor(f"/v1/batches/{beta_batch}/jobs?limit=1", "key-beta"),
        manifests=manifests,
    )


@pytest.fixture(scope="module", autouse=True)
def _histogram(request: pytest.FixtureRequest) -> Iterator[None]:
    started = time.monotonic()
    yield
    report_histogram(request, HISTOGRAM, time.monotonic() - started)


# -- values ----------------------------------------------------------------------------------------

UNKNOWN_JOB = "job_" + "a" * 26
UNKNOWN_BATCH = "batch_" + "a" * 26
# Keys for the routes that change things: never beta's, whose waiting jobs and running batch are
# other clients' ids here; gamma has nothing of its own, so every id is unknown to it.
CHANGING_KEYS = st.sampled_from(["key-alpha"] * 6 + ["key-gamma", "wrong", "", "KEY-ALPHA", "key-alphaa"])
READING_KEYS = st.sampled_from(["key-alpha"] * 6 + ["key-beta", "key-gamma", "wrong", ""])
AUTHORIZED = {"key-alpha": "alpha", "key-beta": "beta", "key-gamma": "gamma"}


def headers_with(draw: Callable[..., Any], keys: st.SearchStrategy[str], **fixed: str) -> dict[str, str]:
    headers = {
        "Content-Type": draw(st.sampled_from(["application/json", "text/plain", "application/octet-stream"]))
    }
    key = draw(keys)
    if key:
        headers["x-api-key"] = key
    for _ in range(draw(st.integers(0, 2))):
        headers[draw(st.from_regex(r"x-[a-z]{1,12}", fullmatch=True))] = draw(HEADER_VALUES)
    headers.update(fixed)
    return headers


def variants(real: str) -> st.SearchStrategy[str]:
    """An id near a real one: its case changed, a character added, cut or changed."""
    return st.sampled_from([real.upper(), real + "x", real[:-1], real[:-1] + "8", " " + real, real + "/"])


def in_path(value: str) -> str:
    return quote(value.encode("utf-8", "surrogatepass"), safe="") or "x"


def query_of(query: dict[str, str]) -> str:
    return urlencode({name: value.encode("utf-8", "surrogatepass") for name, value in query.items()})


LIMITS = st.sampled_from(["1", "100", "20", "", "0", "101", "-1", "1e2", "٣", "01", "1000"]) | TEXT
STATUSES = st.sampled_from([status.value for status in JobStatus]) | TEXT


def valid_limit(limit: str | None) -> bool:
    return not limit or (limit.isascii() and limit.isdigit() and len(limit) <= 3 and 1 <= int(limit) <= 100)


def valid_status(status: str | None) -> bool:
    return not status or status in {s.value for s in JobStatus}


@st.composite
def forged_cursors(draw: st.DrawFn, issued: list[str]) -> str:
    """An issued cursor, flipped, its document mutated, or text."""
    base = draw(st.sampled_from(issued))
    shape = draw(st.sampled_from(["issued", "flipped", "document", "document", "text"]))
    if shape == "issued":
        return base
    if shape == "flipped":
        index = draw(st.integers(0, len(base) - 1))
        return base[:index] + draw(st.sampled_from("AZaz09-_=.%")) + base[index + 1 :]
    if shape == "text":
        return draw(TEXT)
    document = json.loads(base64.urlsafe_b64decode(base + "=" * (-len(base) % 4)))
    return base64.urlsafe_b64encode(to_json(mutate(document, draw)).raw).decode().rstrip("=")


# -- cancels ---------------------------------------------------------------------------------------


def test_cancel_job(world: World) -> None:
    """Whatever the id and the caller, a cancel here changes nothing: the one job it could end
    (alpha's own waiting one) is only ever named with a key that is not alpha's."""
    before = world.snapshot()
    unknown = seen(_post(world.stack, f"/v1/jobs/{UNKNOWN_JOB}/cancel", None))
    assert unknown == (404, {"error": {"code": "not_found", "message": "no such job"}})
    assert seen(_post(world.stack, f"/v1/jobs/{world.beta_waiting}/cancel", None)) == unknown

    @FUZZ
    @given(data=st.data())
    def run(data: st.DataObject) -> None:
        target = data.draw(
            st.sampled_from(["canceled", "holder", "waiting", "beta", "unknown", "near", "text"])
        )
        job_id = {
            "canceled": world.canceled,
            "holder": world.holder,
            "waiting": world.waiting,
            "beta": world.beta_waiting,
            "unknown": "job_" + data.draw(st.from_regex(r"[a-z2-7]{26}", fullmatch=True)),
        }.get(target) or data.draw(variants(world.waiting) if target == "near" else TEXT)
        keys = st.sampled_from(["wrong", "", "KEY-ALPHA"]) if target == "waiting" else CHANGING_KEYS
        headers = headers_with(data.draw, keys)
        body = data.draw(st.binary(max_size=100) | st.just(b""))
        answer = SESSION.post(
            f"{world.api}/v1/jobs/{in_path(job_id)}/cancel", data=body, headers=headers, timeout=30
        )
        error = check("POST /v1/jobs/{id}/cancel", answer, {202, 400, 401, 404, 409})
        key = headers.get("x-api-key")
        if key not in AUTHORIZED:
            assert (error or {}).get("code") == "unauthorized", answer.text
        elif key == "key-alpha" and target == "canceled":
            assert answer.json()["status"] == "canceled", answer.text
        elif key == "key-alpha" and target == "holder":
            assert (error or {}).get("code") == "not_cancelable", answer.text
        elif target in ("beta", "unknown") or (key == "key-gamma" and target in ("canceled", "holder")):
            assert seen(answer) == unknown, answer.text  # another client's job: as unknown

    run()
    assert world.snapshot() == before


def test_cancel_batch(world: World) -> None:
    before = world.snapshot()
    unknown = seen(_post(world.stack, f"/v1/batches/{UNKNOWN_BATCH}/cancel", None))
    assert unknown == (404, {"error": {"code": "not_found", "message": "no such batch"}})
    assert seen(_post(world.stack, f"/v1/batches/{world.beta_batch}/cancel", None)) == unknown

    @FUZZ
    @given(data=st.data())
    def run(data: st.DataObject) -> None:
        target = data.draw(st.sampled_from(["ended", "running", "beta", "unknown", "near", "job", "text"]))
        batch_id = {
            "ended": world.ended,
            "running": world.running,
            "beta": world.beta_batch,
            "unknown": "batch_" + data.draw(st.from_regex(r"[a-z2-7]{26}", fullmatch=True)),
            "job": world.waiting,
        }.get(target) or data.draw(variants(world.running) if target == "near" else TEXT)
        keys = st.sampled_from(["wrong", "", "key-gamma"]) if target == "running" else CHANGING_KEYS
        headers = headers_with(data.draw, keys)
        answer = SESSION.post(
            f"{world.api}/v1/batches/{in_path(batch_id)}/cancel",
            data=data.draw(st.binary(max_size=100)),
            headers=headers,
            timeout=30,
        )
        error = check("POST /v1/batches/{id}/cancel", answer, {400, 401, 404, 409})
        key = headers.get("x-api-key")
        if key not in AUTHORIZED:
            assert (error or {}).get("code") == "unauthorized", answer.text
        elif key == "key-alpha" and target == "ended":
            assert (error or {}).get("code") == "not_cancelable", answer.text
        elif target in ("beta", "unknown", "job", "running") or (key == "key-gamma" and target == "ended"):
            assert seen(answer) == unknown, answer.text  # another client's batch: as unknown

    run()
    assert world.snapshot() == before


# -- batches: reads --------------------------------------------------------------------------------


def test_get_batch(world: World) -> None:
    before = world.snapshot()
    unknown = seen(_get(world.stack, f"/v1/batches/{UNKNOWN_BATCH}"))
    assert unknown == (404, {"error": {"code": "not_found", "message": "no such batch"}})

    @FUZZ
    @given(data=st.data())
    def run(data: st.DataObject) -> None:
        target = data.draw(st.sampled_from(["running", "ended", "beta", "unknown", "near", "job", "text"]))
        batch_id = {
            "running": world.running,
            "ended": world.ended,
            "beta": world.beta_batch,
            "unknown": UNKNOWN_BATCH,
            "job": world.waiting,
        }.get(target) or data.draw(variants(world.running) if target == "near" else TEXT)
        headers = headers_with(data.draw, READING_KEYS)
        answer = SESSION.get(f"{world.api}/v1/batches/{in_path(batch_id)}", headers=headers, timeout=30)
        error = check("GET /v1/batches/{id}", answer, {200, 401, 404})
        key = headers.get("x-api-key")
        owner = {"running": "key-alpha", "ended": "key-alpha", "beta": "key-beta"}.get(target)
        if key not in AUTHORIZED:
            assert (error or {}).get("code") == "unauthorized", answer.text
        elif owner == key:
            assert answer.json()["batch_id"] == batch_id, answer.text
        elif target in ("running", "ended", "beta", "unknown", "job"):
            assert seen(answer) == unknown, answer.text  # another client's batch: as unknown

    run()
    assert world.snapshot() == before


def test_list_batches(world: World) -> None:
    before = world.snapshot()
    issued = [world.batches_cursor, world.beta_batches_cursor, world.jobs_cursors[""]]

    @FUZZ
    @given(data=st.data())
    def run(data: st.DataObject) -> None:
        query: dict[str, str] = {}
        if data.draw(st.booleans()):
            query["limit"] = data.draw(LIMITS)
        if data.draw(st.booleans()):
            query["cursor"] = data.draw(forged_cursors(issued))
        if data.draw(st.integers(0, 4)) == 0:
            query[data.draw(st.sampled_from(["status", "x", "cursor[]"]))] = data.draw(TEXT)
        headers = headers_with(data.draw, READING_KEYS)
        answer = SESSION.get(f"{world.api}/v1/batches?{query_of(query)}", headers=headers, timeout=30)
        error = check("GET /v1/batches", answer, {200, 400, 401, 422})
        key, cursor = headers.get("x-api-key"), query.get("cursor")
        if key not in AUTHORIZED:
            assert (error or {}).get("code") == "unauthorized", answer.text
        elif not valid_limit(query.get("limit")):
            assert (error or {}).get("code") == "validation_failed", answer.text
            assert ["query", "limit"] in [detail["loc"] for detail in error["details"]], error
        elif cursor in issued:
            # A cursor works for the client and the listing it was issued for, and for no other.
            mine = (key, cursor) in (
                ("key-alpha", world.batches_cursor),
                ("key-beta", world.beta_batches_cursor),
            )
            assert answer.status_code == (200 if mine else 400), (key, cursor, answer.text)
            if not mine:
                assert error is not None
                assert error["code"] == "invalid_cursor"
        if answer.status_code == 200:
            listed = answer.json()
            assert set(listed) == {"batches", "next_cursor"}
            assert len(listed["batches"]) <= int(query.get("limit") or 20)

    run()
    assert world.snapshot() == before


def test_list_batch_jobs(world: World) -> None:
    before = world.snapshot()
    issued = [*world.jobs_cursors.values(), world.beta_jobs_cursor, world.batches_cursor]

    @FUZZ
    @given(data=st.data())
    def run(data: st.DataObject) -> None:
        target = data.draw(st.sampled_from(["running"] * 3 + ["ended", "beta", "unknown", "text"]))
        batch_id = {
            "running": world.running,
            "ended": world.ended,
            "beta": world.beta_batch,
            "unknown": UNKNOWN_BATCH,
        }.get(target) or data.draw(TEXT)
        query: dict[str, str] = {}
        if data.draw(st.booleans()):
            query["status"] = data.draw(STATUSES)
        if data.draw(st.booleans()):
            query["limit"] = data.draw(LIMITS)
        if data.draw(st.booleans()):
            query["cursor"] = data.draw(forged_cursors(issued))
        headers = headers_with(data.draw, READING_KEYS)
        url = f"{world.api}/v1/batches/{in_path(batch_id)}/jobs?{query_of(query)}"
        answer = SESSION.get(url, headers=headers, timeout=30)
        error = check("GET /v1/batches/{id}/jobs", answer, {200, 400, 401, 404, 422})
        key, cursor = headers.get("x-api-key"), query.get("cursor")
        owner = {"running": "key-alpha", "ended": "key-alpha", "beta": "key-beta"}.get(target)
        if key not in AUTHORIZED:
            assert (error or {}).get("code") == "unauthorized", answer.text
        elif owner != key and target != "text":
            # Another client's batch is unknown, whatever the query says.
            unknown = SESSION.get(url.replace(in_path(batch_id), UNKNOWN_BATCH), headers=headers, timeout=30)
            assert seen(answer) == seen(unknown) == (404, answer.json()), answer.text
            assert (error or {}).get("code") == "not_found", answer.text
        elif owner == key and not (valid_limit(query.get("limit")) and valid_status(query.get("status"))):
            assert (error or {}).get("code") == "validation_failed", answer.text
        elif owner == key and cursor in issued:
            # A cursor works for the batch, the status filter and the client it was issued for.
            status = query.get("status") or ""
            mine = (target == "running" and cursor == world.jobs_cursors.get(status)) or (
                target == "beta" and status == "" and cursor == world.beta_jobs_cursor
            )
            assert answer.status_code == (200 if mine else 400), (target, query, answer.text)
        if answer.status_code == 200:
            listed = answer.json()
            assert all(job["batch_id"] == batch_id for job in listed["jobs"]), listed
            assert len(listed["jobs"]) <= int(query.get("limit") or 20)

    run()
    assert world.snapshot() == before


# -- batches: creates ------------------------------------------------------------------------------


@dataclass(frozen=True)
class BatchBody:
    body: Body
    # What the answer must be when the caller is a client (None: 202 or any precise refusal).
    expect: tuple[int, str] | None = None
    # The `loc` one of the 422's details must carry.
    loc: list[Any] | None = None


def job_envelope(draw: st.DrawFn, custom_id: str) -> dict[str, Any]:
    tool = draw(st.sampled_from(TOOLS))
    return {"custom_id": custom_id, "tool": tool, "input": minimal_valid(all_tools()[tool].request_schema)}


BATCH_SHAPES = [
    *("valid", "valid", "mutated", "mutated", "poisoned", "custom_id", "duplicate", "count", "both"),
    *("manifest", "manifest", "json", "bytes", "too large"),
]


@st.composite
def batch_bodies(draw: st.DrawFn, manifests: dict[str, str]) -> BatchBody:
    shape = draw(st.sampled_from(BATCH_SHAPES))
    if shape == "bytes":
        return BatchBody(Body(draw(st.binary(max_size=200))))
    if shape == "json":
        return BatchBody(to_json(draw(JSON_VALUES)))
    if shape == "too large":  # over the API's 256 KB, however valid
        jobs = [{"custom_id": f"r{i}", **VOICE, "name": "x" * 99} for i in range(1400)]
        return BatchBody(to_json({"jobs": jobs}), (413, "payload_too_large"))
    document: dict[str, Any] = {}
    if shape == "manifest":
        name = draw(st.sampled_from([*sorted(manifests), "missing", "other bucket", "text"]))
        document["manifest"] = {
            "missing": manifests["good"][:-38] + "0" * 32 + ".jsonl",
            "other bucket": manifests["good"].replace("inputbucket", "outputbucket"),
            "text": draw(TEXT),
        }.get(name) or manifests[name]
    else:
        count = draw(st.integers(1, 3))
        document["jobs"] = [job_envelope(draw, f"row-{i}") for i in range(count)]
    # The envelope's own fields: anything where nothing precise is expected, else valid ones.
    loose = shape in ("valid", "mutated", "poisoned")
    if draw(st.booleans()):
        document["metadata"] = draw(st.dictionaries(TEXT, LEAVES, max_size=3)) if loose else {"k": "v"}
    if draw(st.integers(0, 3)) == 0:
        document["callback_url"] = draw(st.sampled_from(["http://127.0.0.1:9/hook", "https://a.example/h"]))
    if shape == "manifest":
        name = next((n for n, uri in manifests.items() if uri == document["manifest"]), "missing")
        if name == "good":
            return BatchBody(to_json(document))
        loc = (
            ["body", "manifest", 2]
            if name in ("bad line", "duplicate", "not utf-8")
            else ["body", "manifest"]
        )
        return BatchBody(to_json(document), (422, "validation_failed"), loc)
    if shape == "mutated":
        for _ in range(draw(st.integers(1, 3))):
            document = mutate(document, draw)
        return BatchBody(to_json(document))
    if shape == "poisoned":
        job = draw(st.integers(0, len(document["jobs"]) - 1))
        field = draw(st.sampled_from(["name", "callback_url", "metadata", "input"]))
        if field == "input":
            document["jobs"][job]["input"] = {**document["jobs"][job]["input"], "prompt": draw(NASTY)}
        else:
            document["jobs"][job][field] = {"k": draw(NASTY)} if field == "metadata" else draw(NASTY)
        return BatchBody(to_json(document))
    if shape == "custom_id":  # missing, empty, too long, or a character outside the set
        job = draw(st.integers(0, len(document["jobs"]) - 1))
        bad = draw(
            st.sampled_from([None, "", "x" * 65, "a b", "a/b", "é", 7, ["x"]])
            | TEXT.filter(_bad_id).filter(_encodable)
        )
        if bad is None:
            del document["jobs"][job]["custom_id"]
        else:
            document["jobs"][job]["custom_id"] = bad
        return BatchBody(to_json(document), (422, "validation_failed"), ["body", "jobs", job, "custom_id"])
    if shape == "duplicate":
        document["jobs"].append(job_envelope(draw, "row-0"))
        last = len(document["jobs"]) - 1
        return BatchBody(to_json(document), (422, "validation_failed"), ["body", "jobs", last, "custom_id"])
    if shape == "count":  # none, or one over the bound
        document["jobs"] = (
            [] if draw(st.booleans()) else [{"custom_id": f"r{i}", **VOICE} for i in range(501)]
        )
        return BatchBody(to_json(document), (422, "validation_failed"), ["body", "jobs"])
    if shape == "both":  # exactly one of jobs and manifest, never both
        document["manifest"] = manifests["good"]
        return BatchBody(to_json(document), (422, "validation_failed"), ["body"])
    return BatchBody(to_json(document))


def _encodable(value: str) -> bool:
    return not any(0xD800 <= ord(char) <= 0xDFFF for char in value)  # no lone surrogate


def _bad_id(value: str) -> bool:
    return not (1 <= len(value) <= 64 and all(c.isascii() and (c.isalnum() or c in "_.:-") for c in value))


def test_create_batch(world: World) -> None:
    accepted: list[str] = []

    @FUZZ
    @given(data=st.data())
    def run(data: st.DataObject) -> None:
        case = data.draw(batch_bodies(world.manifests))
        extra = {}
        if data.draw(st.integers(0, 3)) == 0:
            extra["Idempotency-Key"] = data.draw(st.sampled_from(["same-key", "k"]) | HEADER_VALUES)
        headers = headers_with(
            data.draw, st.sampled_from(["key-alpha"] * 6 + ["key-gamma", "wrong", ""]), **extra
        )
        before = world.snapshot()
        answer = SESSION.post(f"{world.api}/v1/batches", data=case.body.raw, headers=headers, timeout=60)
        error = check("POST /v1/batches", answer, {202, 400, 401, 402, 409, 413, 422})
        key_ok = 1 <= len(extra.get("Idempotency-Key", "k")) <= 255
        if headers.get("x-api-key") not in AUTHORIZED:
            assert (error or {}).get("code") == "unauthorized", answer.text
        elif case.body.not_json and answer.status_code != 413:
            assert (error or {}).get("code") == "invalid_json", answer.text
        elif case.expect is not None and key_ok:
            assert (answer.status_code, (error or {}).get("code")) == case.expect, (answer.text, case)
            if case.loc is not None:
                locs = [detail["loc"] for detail in error["details"]]
                assert any(loc[: len(case.loc)] == case.loc for loc in locs), (locs, case.loc)
        if error is None:
            batch = answer.json()
            assert batch["counts"]["total"] == sum(
                count for name, count in batch["counts"].items() if name != "total"
            )
            accepted.append(batch["batch_id"])
        else:
            assert world.snapshot() == before, (error, case.body.raw[:300])

    run()
    assert accepted, "no batch was accepted: the bodies' generator lost its valid cases"


@st.composite
def manifest_lines(draw: st.DrawFn) -> tuple[bytes, set[int | None], bool]:
    """A manifest's bytes, the numbers of its lines that must be refused, whether any line is
    only mutated (then anything precise goes)."""
    kinds = draw(
        st.lists(
            st.sampled_from(["valid"] * 4 + ["mutated", "custom_id", "duplicate", "bytes", "not utf-8"])
            | st.sampled_from(["not an object", "blank", "not json", "too long"]),
            min_size=1,
            max_size=4,
        )
    )
    out: list[bytes] = []
    bad: set[int | None] = set()
    loose = False
    for number, kind in enumerate(kinds, start=1):
        custom_id = f"line-{number}"
        if kind == "valid":
            out.append(json.dumps(job_envelope(draw, custom_id)).encode())
        elif kind == "mutated":
            out.append(to_json(mutate(job_envelope(draw, custom_id), draw)).raw)
            loose = True
        elif kind == "custom_id":
            out.append(
                json.dumps({**VOICE, "custom_id": draw(st.sampled_from(["", "a b", "x" * 65]))}).encode()
            )
        elif kind == "duplicate":
            out.append(json.dumps({**VOICE, "custom_id": "line-0"}).encode())
            if not any(b'"custom_id": "line-0"' in line for line in out[:-1]):
                kind = "valid"  # the first of its custom_id is fine
        elif kind == "bytes":
            out.append(draw(st.binary(max_size=60)).replace(b"\n", b""))
            loose = True
        elif kind == "not utf-8":
            out.append(b'{"custom_id": "\xff\xfe"}')
        elif kind == "not an object":
            out.append(draw(st.sampled_from([b"[1]", b'"x"', b"7", b"null"])))
        elif kind == "blank":
            out.append(b"")
        elif kind == "not json":
            out.append(draw(st.sampled_from([b"{", b"{'a': 1}", b'{"a": NaN}', b"\x00"])))
        else:
            out.append(b'{"custom_id": "' + b"x" * (256 * 1024) + b'"}')
        if kind not in ("valid", "mutated", "bytes"):
            bad.add(number)
    ending = draw(st.sampled_from([b"\n", b""]))
    if kinds[-1] == "blank" and not ending:
        bad.discard(len(kinds))  # a final newline ends the last line: it starts no empty one
    content = b"\n".join(out) + ending
    return content, (bad if content else {None}), loose  # no byte at all: no line to name


def test_create_batch_from_manifest(world: World) -> None:
    @settings(FUZZ, max_examples=max(10, EXAMPLES // 2))  # each example uploads its manifest first
    @given(data=st.data())
    def run(data: st.DataObject) -> None:
        content, bad, loose = data.draw(manifest_lines())
        key = data.draw(st.sampled_from(["key-alpha"] * 3 + ["key-gamma"]))
        uri = upload(world.stack, content, key)
        before = world.snapshot()
        answer = _post(world.stack, "/v1/batches", {"manifest": uri}, key)
        error = check("POST /v1/batches (manifest)", answer, {202, 402, 422})
        if bad:
            assert (error or {}).get("code") == "validation_failed", answer.text
            assert error is not None
            for detail in error["details"]:
                assert set(detail) >= {"loc", "msg", "line", "custom_id", "code"}, detail
                assert detail["loc"][:2] == ["body", "manifest"], detail
            assert bad <= {detail["line"] for detail in error["details"]}, (bad, error["details"])
        elif not loose and key == "key-alpha":
            assert answer.status_code == 202, answer.text
        if error is not None:
            assert world.snapshot() == before, (error, content[:300])

    run()


# -- sized uploads ---------------------------------------------------------------------------------

SIZES = st.one_of(
    st.integers(-5, 5),
    st.integers(min_value=1, max_value=MAX_UPLOAD_BYTES),
    st.sampled_from([MAX_UPLOAD_BYTES, MAX_UPLOAD_BYTES + 1, 10**70, -(10**70), 1.0, 2.5, "10", True, False]),
    st.sampled_from([None, [1], {"n": 1}]),
    st.sampled_from(["@@RAW:NaN@@", "@@RAW:1e400@@", "@@RAW:1e60@@", "@@RAW:-0@@", "@@RAW:1e-400@@"]),
)


def test_sized_uploads(world: World) -> None:
    @settings(FUZZ, max_examples=max(10, EXAMPLES // 2))  # the sizes' cases are few
    @given(data=st.data())
    def run(data: st.DataObject) -> None:
        size = data.draw(SIZES)
        document: dict[str, Any] = {"extension": data.draw(st.sampled_from(["mp4", "png", "jsonl", "MP3"]))}
        if data.draw(st.booleans()):
            document["content_type"] = data.draw(st.sampled_from(["video/mp4", "image/png"]))
        document["size_bytes"] = size
        headers = headers_with(data.draw, READING_KEYS)
        before = world.snapshot()
        body = to_json(document)
        answer = SESSION.post(f"{world.api}/v1/uploads", data=body.raw, headers=headers, timeout=30)
        error = check("POST /v1/uploads (size_bytes)", answer, {201, 400, 401, 422})
        if headers.get("x-api-key") not in AUTHORIZED:
            assert (error or {}).get("code") == "unauthorized", answer.text
        elif body.not_json:
            assert (error or {}).get("code") == "invalid_json", answer.text
        elif size is None or (type(size) is int and 1 <= size <= MAX_UPLOAD_BYTES):
            assert answer.status_code == 201, answer.text
            signed = answer.json()["upload_headers"].get("Content-Length")
            assert signed == (None if size is None else str(size)), answer.json()["upload_headers"]
        else:  # not an integer, or one out of 1..MaxUploadBytes ("-0", "1e60" among them)
            assert (error or {}).get("code") == "validation_failed", answer.text
            assert error is not None
            assert ["body", "size_bytes"] in [detail["loc"][:2] for detail in error["details"]], error
        if error is not None:
            assert world.snapshot() == before, (error, body.raw)

    run()


# -- the webhook's secret path ---------------------------------------------------------------------

NO_SUCH_ROUTE = (404, {"error": {"code": "not_found", "message": "no such route"}})


def test_webhook_secret_path(world: World) -> None:
    """Only the seeded token opens the path (any other is no route at all), and a delivery there
    is judged as on the plain route. No project here was created through the pipeline, so no
    delivery, accepted or not, changes anything."""
    before = world.snapshot()
    good = DEFAULT_WEBHOOK_PATH_TOKEN

    @FUZZ
    @given(data=st.data())
    def run(data: st.DataObject) -> None:
        token = data.draw(
            st.sampled_from([good] * 6 + [good.upper(), good + "x", good[:-1], good + "/x"])
            | TEXT.filter(lambda text: text != good)
        )
        path = f"/webhooks/magic-hour/{in_path(token)}"
        if token == good + "/x":
            path = f"/webhooks/magic-hour/{good}/x"
        body = data.draw(webhook_bodies())
        offset = data.draw(st.sampled_from([0] * 9 + [-301, 400]))
        timestamp = str(int(time.time()) + offset)
        headers = {"Content-Type": "application/json", "magic-hour-event-timestamp": timestamp}
        signing = data.draw(st.sampled_from(["good"] * 6 + ["wrong", "none", "garbage"]))
        if signing == "good":
            headers["magic-hour-event-signature"] = sign(world.stack.webhook_secret, timestamp, body.raw)
        elif signing == "wrong":
            headers["magic-hour-event-signature"] = sign("whsec_not_ours", timestamp, body.raw)
        elif signing == "garbage":
            headers["magic-hour-event-signature"] = data.draw(HEADER_VALUES)
        answer = SESSION.post(f"{world.api}{path}", data=body.raw, headers=headers, timeout=30)
        error = check("POST /webhooks/magic-hour/{token}", answer, {200, 400, 401, 404, 413})
        if token != good:
            assert seen(answer) == NO_SUCH_ROUTE, (token, answer.text)
        elif signing != "good" or offset != 0:
            assert (error or {}).get("code") == "invalid_signature", answer.text
        elif body.not_json or body.lone_surrogate:
            assert (error or {}).get("code") == "invalid_json", answer.text

    run()
    assert world.snapshot() == before


# -- Magic Hour's GET /v1/account, as the simulator serves it --------------------------------------


def test_simulator_account(world: World) -> None:
    """Magic Hour's bearer auth (scheme in any case, the token exact): the balance with the key,
    Magic Hour's 401 without; reading it never changes it."""
    url = f"{world.stack.magic_hour}/v1/account"
    balance = requests.get(url, headers={"Authorization": f"Bearer {MAGIC_HOUR_KEY}"}, timeout=10).json()
    assert set(balance) == {"id", "email", "credits", "tier", "subscription"}

    @FUZZ
    @given(data=st.data())
    def run(data: st.DataObject) -> None:
        scheme = data.draw(st.sampled_from(["Bearer"] * 4 + ["bearer", "BEARER", "Basic", "Token", ""]))
        token = data.draw(
            st.sampled_from([MAGIC_HOUR_KEY] * 8 + [MAGIC_HOUR_KEY.upper(), MAGIC_HOUR_KEY + "x", "", "mh-"])
            | HEADER_VALUES.filter(lambda value: value != MAGIC_HOUR_KEY)
        )
        headers = {}
        if data.draw(st.integers(0, 5)):
            headers["Authorization"] = f"{scheme} {token}" if scheme else token
        for _ in range(data.draw(st.integers(0, 2))):
            headers[data.draw(st.from_regex(r"x-[a-z]{1,12}", fullmatch=True))] = data.draw(HEADER_VALUES)
        query = query_of({"x": data.draw(TEXT)}) if data.draw(st.booleans()) else ""
        answer = SESSION.get(f"{url}?{query}", headers=headers, timeout=10)
        HISTOGRAM[("GET /v1/account (simulator)", answer.status_code)] += 1
        authorized = (
            "Authorization" in headers and scheme.lower() == "bearer" and token.strip() == MAGIC_HOUR_KEY
        )
        assert answer.headers["Content-Type"].startswith("application/json"), answer.text
        if authorized:
            assert seen(answer) == (200, balance), answer.text
        else:
            assert seen(answer) == (401, {"message": "Unauthorized"}), (headers, answer.text)

    run()
