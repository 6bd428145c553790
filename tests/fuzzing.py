"""What the fuzz tests generate and how they judge an answer (tests/integration/test_fuzz*.py):
hostile JSON values (lone surrogates, JSON's non-standard tokens, huge numbers), mutations of a
valid document, poisoned fields, header values, Magic Hour webhook bodies, and the check that an
answer is ours: never a 5xx, always JSON with the contract's error body."""

from __future__ import annotations

import json
import os
import re
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pytest
import requests
from hypothesis import strategies as st

from pipeline.http import WIRE_ERRORS
from pipeline.models.webhook_events import EVENT_TYPES

# Every code a refusal of ours may answer with (pipeline.http.WIRE_ERRORS, the one table both API
# handlers answer from: 4xx only, a 5xx is never the right answer to hostile input), plus the
# local gateway's own `bad_request` for HTTP it cannot parse, as API Gateway has its own.
KNOWN_CODES = {wire.code for wire in WIRE_ERRORS.values() if wire.status < 500} | {"bad_request"}

# -- values ----------------------------------------------------------------------------------------

SURROGATE_TEXT = st.builds(
    lambda before, lone, after: before + lone + after,
    st.text(max_size=3),
    st.characters(categories=["Cs"]),
    st.text(max_size=3),
)
TEXT = st.one_of(
    st.text(max_size=20),
    SURROGATE_TEXT,
    st.sampled_from(
        [
            "",
            "x" * 101,
            "x" * 3000,
            "https://[x]/",
            "http://[::1",
            "https://client.example:99999/h",
            "s3://bucket/key",
            "job_abcdefghijklmnopqrstuvwxyz",
            "\u0000",
            "\U0001f98a",
        ]
    ),
)
# JSON's non-standard and edge tokens, written into the text as they are (json.dumps cannot).
RAW_TOKENS = ["NaN", "Infinity", "-Infinity", "1e400", "-1e400", "1e60", "-0", "1e-400", "1" + "0" * 70]
RAW = st.sampled_from(RAW_TOKENS).map(lambda token: f"@@RAW:{token}@@")
NUMBERS = st.one_of(
    st.integers(min_value=-(10**70), max_value=10**70),
    st.integers(min_value=-5, max_value=100),
    st.floats(allow_nan=False, allow_infinity=False),
)
LEAVES = st.one_of(st.none(), st.booleans(), NUMBERS, TEXT, RAW)
JSON_VALUES = st.recursive(
    LEAVES,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(TEXT, inner, max_size=4),
    max_leaves=12,
)


NOT_JSON_TOKENS = ["NaN", "Infinity", "-Infinity", "1e400", "-1e400"]  # RFC 8259 has none of them


@dataclass(frozen=True)
class Body:
    raw: bytes
    # What the answer must then be, whatever else the body holds (None: anything allowed).
    not_json: bool = False  # a NaN/Infinity/out-of-range token: invalid_json
    lone_surrogate: bool = False  # a string that is no Unicode text


def to_json(document: Any) -> Body:
    text = json.dumps(document)
    try:
        json.dumps(document, ensure_ascii=False).encode("utf-8")
        lone = False
    except UnicodeEncodeError:  # only a lone surrogate cannot be UTF-8
        lone = True
    return Body(
        re.sub(r'"@@RAW:(.*?)@@"', lambda found: found.group(1), text).encode(),
        not_json=any(f'"@@RAW:{token}@@"' in text for token in NOT_JSON_TOKENS),
        lone_surrogate=lone,
    )


def mutate(document: Any, draw: st.DrawFn) -> Any:
    """`document` with one value somewhere in it replaced, added or removed."""
    if not isinstance(document, dict | list) or not document or draw(st.integers(0, 3)) == 0:
        return draw(JSON_VALUES)
    if isinstance(document, list):
        index = draw(st.integers(0, len(document) - 1))
        return [*document[:index], mutate(document[index], draw), *document[index + 1 :]]
    key = draw(st.sampled_from(sorted(document, key=str)))
    action = draw(st.sampled_from(["deeper", "replace", "remove", "add"]))
    copy = dict(document)
    if action == "remove":
        copy.pop(key)
    elif action == "add":
        copy[draw(TEXT)] = draw(JSON_VALUES)
    elif action == "replace":
        copy[key] = draw(JSON_VALUES)
    else:
        copy[key] = mutate(copy[key], draw)
    return copy


# Values that once got past validation and broke something later (issue #16), and their kin.
NASTY = st.one_of(
    SURROGATE_TEXT,
    RAW,
    st.integers(min_value=10**15, max_value=10**70),
    st.floats(min_value=1e15, max_value=1e300),
    st.sampled_from(
        ["http://[::1", "https://[x]/", "https://a.example:99999/", "https://a.example:0/", "https:// a/"]
    ),
)


def poison(
    document: dict[str, Any], draw: st.DrawFn, fields: tuple[str, ...] = ("name", "callback_url")
) -> dict[str, Any]:
    """A valid body with exactly one nasty value: in a field, a metadata key, or an input leaf."""
    copy: dict[str, Any] = json.loads(json.dumps(document))
    target = draw(
        st.sampled_from([*fields, "metadata", "metadata_key", *(["input"] if "input" in copy else [])])
    )
    if target == "metadata_key":
        copy["metadata"] = {draw(SURROGATE_TEXT): "v"}
    elif target == "metadata":
        copy["metadata"] = {"k": draw(NASTY)}
    elif target == "input":
        leaves = list(_leaf_paths(copy["input"]))
        if leaves:
            *parents, last = draw(st.sampled_from(leaves))
            node = copy["input"]
            for name in parents:
                node = node[name]
            node[last] = draw(NASTY)
    else:
        copy[target] = draw(NASTY)
    return copy


def _leaf_paths(node: Any, path: tuple[Any, ...] = ()) -> Iterator[tuple[Any, ...]]:
    if isinstance(node, dict):
        for name, value in node.items():
            yield from _leaf_paths(value, (*path, name))
    elif isinstance(node, list):
        for index, value in enumerate(node):
            yield from _leaf_paths(value, (*path, index))
    elif path:
        yield path


HEADER_VALUES = st.text(st.characters(min_codepoint=0x21, max_codepoint=0x7E), min_size=0, max_size=300)
API_KEYS = st.sampled_from(["key-alpha"] * 8 + ["key-beta", "wrong", ""])


def headers_for(draw: st.DrawFn, **fixed: str) -> dict[str, str]:
    headers = {
        "Content-Type": draw(st.sampled_from(["application/json", "text/plain", "application/octet-stream"]))
    }
    key = draw(API_KEYS)
    if key:
        headers["x-api-key"] = key
    for _ in range(draw(st.integers(0, 2))):
        headers[draw(st.from_regex(r"x-[a-z]{1,12}", fullmatch=True))] = draw(HEADER_VALUES)
    headers.update(fixed)
    return headers


# -- webhooks --------------------------------------------------------------------------------------


@st.composite
def webhook_bodies(draw: st.DrawFn) -> Body:
    shape = draw(st.sampled_from(["event", "event", "event", "json", "bytes"]))
    if shape == "bytes":
        return Body(draw(st.binary(max_size=200)))
    if shape == "json":
        return to_json(draw(JSON_VALUES))
    payload: dict[str, Any] = {
        "id": draw(st.sampled_from(["cm2fphlo3000dmfhu8m0dh63z", "fuzz-project"]) | TEXT),
        "status": draw(st.sampled_from(["queued", "rendering", "complete", "error"]) | TEXT),
        "credits_charged": draw(NUMBERS | RAW | LEAVES),
        "name": draw(st.sampled_from(["fuzz [job_abcdefghijklmnopqrstuvwxyz]", "x"]) | TEXT),
        "downloads": draw(st.lists(st.fixed_dictionaries({"url": TEXT}), max_size=2) | JSON_VALUES),
        "error": draw(st.none() | st.fixed_dictionaries({"code": TEXT, "message": TEXT})),
    }
    event = {"type": draw(st.sampled_from(sorted(EVENT_TYPES)) | TEXT), "payload": payload}
    for _ in range(draw(st.integers(0, 2))):
        event = mutate(event, draw)
    return to_json(event)


# -- checks ----------------------------------------------------------------------------------------


def answer_error(entry: str, answer: requests.Response, allowed: set[int]) -> dict[str, Any] | None:
    """The answer is ours and allowed; its error (or None)."""
    assert answer.status_code < 500, (entry, answer.status_code, answer.text[:500])
    assert answer.status_code in allowed, (entry, answer.status_code, answer.text[:500])
    assert answer.headers.get("Content-Type", "").startswith("application/json"), answer.text[:200]
    body = answer.json()
    if answer.status_code < 400:
        return None
    assert set(body) == {"error"}, body
    error = body["error"]
    assert error["code"] in KNOWN_CODES, error
    assert isinstance(error["message"], str)
    assert error["message"]
    assert "Traceback" not in answer.text
    return dict(error)


def report_histogram(
    request: pytest.FixtureRequest, histogram: Counter[tuple[str, int]], seconds: float
) -> None:
    """Answers per entry point and status, shown after the module's tests (and written to the
    file FUZZ_REPORT names)."""
    lines = [f"fuzz: {sum(histogram.values())} requests in {seconds:.1f} s"]
    for entry in sorted({entry for entry, _ in histogram}):
        statuses = {status: n for (e, status), n in sorted(histogram.items()) if e == entry}
        lines.append(f"  {entry}: {statuses}")
    report = "\n".join(lines)
    if os.environ.get("FUZZ_REPORT"):
        with open(os.environ["FUZZ_REPORT"], "a") as out:
            out.write(report + "\n")
    reporter = request.config.pluginmanager.get_plugin("terminalreporter")
    capture = request.config.pluginmanager.get_plugin("capturemanager")
    if reporter is not None and capture is not None:
        with capture.global_and_fixture_disabled():  # teardown output is captured otherwise
            reporter.write_line("\n" + report)
