"""Extreme numbers (issue #16.5): every numeric field of several tools, and the scenario's, get a
Magic Hour answer (200, 400 or 422 with {"message"}), never a 500, and the simulator keeps working."""

from __future__ import annotations

import json
from typing import Any

import pytest
import requests

from local.simulator.config import DEFAULT_TOOLS_PATH
from local.simulator.scenario import Scenario
from tests.schema_inputs import minimal_valid

from .helpers import AUDIO_BODY, SimClient

# Raw JSON text, so literals Python would never write (NaN, 1e309, 400-digit integers) go out as is.
EXTREMES = [
    "1.7e308",
    "-1.7e308",
    "1e309",
    "-1e309",
    "NaN",
    "Infinity",
    "-Infinity",
    "1" + "0" * 400,
    "-" + "1" * 400,
    "5e-324",
    "-0.0",
    "9007199254740993",
    "1e300",
    "0",
]
NOT_JSON = {"NaN", "Infinity", "-Infinity"}
NON_FINITE = {"1e309", "-1e309", "NaN", "Infinity", "-Infinity", "1" + "0" * 400, "-" + "1" * 400}
TOOLS = [
    "face-swap",
    "animation",
    "ai-face-editor",
    "character-replace",
    "auto-subtitle-generator",
    "ai-image-upscaler",
    "ai-image-editor",
    "ai-image-generator",
    "lip-sync",
    "image-to-video",
]
_CATALOGUE: dict[str, Any] = json.loads(DEFAULT_TOOLS_PATH.read_text(encoding="utf-8"))["tools"]
_SCHEMAS: dict[str, dict[str, Any]] = {name: entry["request_schema"] for name, entry in _CATALOGUE.items()}
PLACEHOLDER = "__EXTREME__"


def numeric_fields(schema: dict[str, Any], path: tuple[str, ...] = ()) -> list[tuple[str, ...]]:
    """Paths of every number or integer property; "[]" steps into an array's items."""
    found: list[tuple[str, ...]] = []
    if schema.get("type") in ("number", "integer"):
        found.append(path)
    for name, child in schema.get("properties", {}).items():
        found.extend(numeric_fields(child, (*path, name)))
    if isinstance(schema.get("items"), dict):
        found.extend(numeric_fields(schema["items"], (*path, "[]")))
    return found


def with_value(schema: dict[str, Any], body: Any, path: tuple[str, ...]) -> Any:
    """A copy of a valid body with the field at `path` set to PLACEHOLDER (parents made valid)."""
    if not path:
        return PLACEHOLDER
    head, rest = path[0], path[1:]
    if head == "[]":
        item_schema = schema["items"]
        return [with_value(item_schema, minimal_valid(item_schema), rest)]
    child_schema = schema["properties"][head]
    current = body.get(head) if isinstance(body, dict) else None
    child = current if current is not None else minimal_valid(child_schema)
    return {**body, head: with_value(child_schema, child, rest)}


CASES = [(tool, path) for tool in TOOLS for path in numeric_fields(_SCHEMAS[tool])]


def test_the_cases_cover_many_fields() -> None:
    assert len(CASES) >= 30
    assert ("face-swap", ("end_seconds",)) in CASES


@pytest.mark.parametrize(("tool", "path"), CASES, ids=[f"{t}:{'.'.join(p)}" for t, p in CASES])
def test_extreme_numbers_never_crash_a_create(make_sim: Any, tool: str, path: tuple[str, ...]) -> None:
    sim = make_sim()
    sim.scenario(render_seconds=0.05)
    schema = _SCHEMAS[tool]
    body = with_value(schema, minimal_valid(schema), path)
    template = json.dumps(body)
    assert f'"{PLACEHOLDER}"' in template
    kind = _CATALOGUE[tool]["kind"]
    for raw in EXTREMES:
        data = template.replace(f'"{PLACEHOLDER}"', raw)
        response = requests.post(
            f"{sim.url}/v1/{tool}",
            data=data,
            headers={**sim.auth, "Content-Type": "application/json"},
            timeout=10,
        )
        assert response.status_code in (200, 400, 422), (raw, response.status_code, response.text)
        answer = response.json()
        if response.status_code != 200:
            assert set(answer) == {"message"}, (raw, answer)
            assert "Traceback" not in answer["message"]
        if raw in NON_FINITE:
            assert response.status_code == 400, (raw, response.text)
            if raw in NOT_JSON:
                assert answer == {"message": "Invalid JSON body"}
            else:
                assert path[-1] in answer["message"], (raw, answer)
        if response.status_code == 200:
            # What was accepted must stay readable everywhere it shows up.
            assert isinstance(answer["credits_charged"], int)
            assert sim.get(kind, answer["id"]).status_code == 200
    listed = requests.get(f"{sim.url}/_sim/projects", timeout=30)
    assert listed.status_code == 200
    # Still healthy: an ordinary create works afterwards.
    assert sim.create_raw(tool, minimal_valid(schema)).status_code == 200


@pytest.mark.parametrize("end_seconds", ["1.7e308", "1e300", "9e15"])
def test_a_bill_beyond_any_number_is_422(sim: SimClient, end_seconds: str) -> None:
    data = json.dumps(
        {
            "start_seconds": 0,
            "end_seconds": PLACEHOLDER,
            "assets": {
                "video_source": "file",
                "video_file_path": "https://example.com/v.mp4",
                "image_file_path": "https://example.com/f.png",
            },
        }
    ).replace(f'"{PLACEHOLDER}"', end_seconds)
    response = requests.post(
        f"{sim.url}/v1/face-swap",
        data=data,
        headers={**sim.auth, "Content-Type": "application/json"},
        timeout=10,
    )
    assert response.status_code == 422
    assert response.json() == {"message": "Unable to create video"}
    assert requests.get(f"{sim.url}/_sim/projects", timeout=10).json() == {"projects": []}


def test_a_long_but_billable_video_is_accepted(sim: SimClient) -> None:
    body = {
        "start_seconds": 0,
        "end_seconds": 1e9,
        "assets": {
            "video_source": "file",
            "video_file_path": "https://example.com/v.mp4",
            "image_file_path": "https://example.com/f.png",
        },
    }
    response = sim.create_raw("face-swap", body)
    assert response.status_code == 200
    assert response.json()["credits_charged"] == 30 * 10**9


@pytest.mark.parametrize("literal", ["NaN", "Infinity", "-Infinity"])
def test_non_json_literals_are_invalid_json(sim: SimClient, literal: str) -> None:
    response = requests.post(
        f"{sim.url}/v1/ai-voice-generator",
        data=f'{{"style": {{"prompt": "hi", "voice_name": "Elon Musk"}}, "x": {literal}}}',
        headers=sim.auth,
        timeout=10,
    )
    assert response.status_code == 400
    assert response.json() == {"message": "Invalid JSON body"}


def test_deeply_nested_body_is_400(sim: SimClient) -> None:
    response = requests.post(
        f"{sim.url}/v1/ai-voice-generator", data="[" * 100_000, headers=sim.auth, timeout=10
    )
    assert response.status_code == 400
    assert response.json() == {"message": "Invalid JSON body"}


_SCENARIO_NUMBERS = [
    name
    for name, value in Scenario().to_json().items()
    if isinstance(value, int | float) and not isinstance(value, bool)
] + ["download_bytes_per_second"]


@pytest.mark.parametrize("field", _SCENARIO_NUMBERS)
def test_extreme_scenario_numbers_are_400_or_harmless(make_sim: Any, field: str) -> None:
    sim = make_sim()
    for raw in EXTREMES:
        response = requests.put(f"{sim.url}/_sim/scenario", data=f'{{"{field}": {raw}}}', timeout=10)
        assert response.status_code in (200, 400), (raw, response.text)
        if response.status_code == 400:
            assert field in response.json()["message"] or response.json() == {"message": "Invalid JSON body"}
        if response.status_code == 200:
            # An accepted value must leave creating and reading projects working.
            created = sim.create_raw("ai-voice-generator", AUDIO_BODY)
            assert created.status_code in (200, 429, *range(500, 505)), created.text
            if created.status_code == 200:
                assert sim.get("audio", created.json()["id"]).status_code == 200
        requests.delete(f"{sim.url}/_sim/scenario", timeout=10)
