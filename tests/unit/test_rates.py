"""The rate table and the cost estimate of a job (pipeline.magic_hour.rates)."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest

from pipeline.magic_hour import catalogue, rates

ROOT = Path(__file__).resolve().parents[2]


def test_every_tool_of_the_catalogue_has_a_rate_with_its_source() -> None:
    table = json.loads(rates.RATES_PATH.read_text())
    for tool in catalogue.all_tools().values():
        rate = rates.rate_of(tool)
        assert rate.source == (table["tools"].get(tool.name) or table["kinds"][tool.kind])["source"]
        assert rate.source, tool.name
        assert rate.credits_per_second + rate.credits_per_image + rate.credits_per_job > 0, tool.name


@pytest.mark.parametrize(
    ("tool", "tool_input", "credits"),
    [
        # 30 credits per requested second (Magic Hour's 30 fps frame cost).
        ("face-swap", {"start_seconds": 0, "end_seconds": 10}, 300),
        ("face-swap", {"start_seconds": 2.5, "end_seconds": 10}, 225),
        ("text-to-video", {"end_seconds": 5}, 150),
        ("lip-sync", {"start_seconds": 0, "end_seconds": 0.1}, 3),
        ("video-to-video", {"start_seconds": 0, "end_seconds": 0.01}, 1),
        # Per image.
        ("ai-image-generator", {"image_count": 4}, 20),
        ("ai-image-generator", {"image_count": 1}, 5),
        ("ai-image-editor", {"image_count": 9}, 45),
        ("ai-image-editor", {}, 5),
        ("face-swap-photo", {"image_count": 7}, 5),  # takes no image_count: one image
        # Per audio tool.
        ("ai-voice-generator", {"style": {"prompt": "hi"}}, 20),
        ("ai-voice-cloner", {}, 20),
        # The music generator: 1 credit per requested second of `duration`.
        ("ai-music-generator", {"duration": 45}, 45),
        ("ai-music-generator", {"duration": 15.2}, 16),
    ],
)
def test_estimates(tool: str, tool_input: dict[str, Any], credits: int) -> None:
    assert rates.estimate_credits(tool, tool_input) == credits


@pytest.mark.parametrize(
    ("tool", "tool_input", "credits"),
    [
        # A duration that cannot be read is the tool's longest.
        ("face-swap", {}, 3600 * 30),
        ("face-swap", {"start_seconds": 0, "end_seconds": "10"}, 3600 * 30),
        ("face-swap", {"start_seconds": None, "end_seconds": 10}, 3600 * 30),
        ("face-swap", {"start_seconds": 0, "end_seconds": True}, 3600 * 30),
        ("face-swap", {"start_seconds": 20, "end_seconds": 10}, 3600 * 30),
        ("face-swap", {"start_seconds": 10, "end_seconds": 10}, 3600 * 30),
        ("face-swap", {"start_seconds": 0, "end_seconds": float("inf")}, 3600 * 30),
        ("text-to-video", {}, 60 * 30),
        # Never beyond the longest, whatever the input says.
        ("text-to-video", {"end_seconds": 10**9}, 60 * 30),
        ("face-swap", {"start_seconds": 0, "end_seconds": 10**9}, 3600 * 30),
        # An image count that cannot be read is the most the tool makes.
        ("ai-image-generator", {"image_count": "4"}, 16 * 5),
        ("ai-image-generator", {"image_count": 2.5}, 16 * 5),
        ("ai-image-generator", {"image_count": 0}, 16 * 5),
        ("ai-image-editor", {"image_count": None}, 16 * 5),
        ("ai-image-generator", {"image_count": 4.0}, 20),
        ("ai-music-generator", {}, 300),
        ("ai-music-generator", {"duration": "45"}, 300),
        ("ai-music-generator", {"duration": 10**6}, 300),
    ],
)
def test_an_open_cost_is_estimated_at_the_most(tool: str, tool_input: dict[str, Any], credits: int) -> None:
    assert rates.estimate_credits(tool, tool_input) == credits


def test_an_unknown_tool_has_no_estimate() -> None:
    with pytest.raises(KeyError, match="no-such-tool"):
        rates.estimate_credits("no-such-tool", {})


def test_a_nan_is_no_duration() -> None:
    assert rates.estimate_credits("face-swap", {"start_seconds": 0, "end_seconds": float("nan")}) == 3600 * 30
    assert rates.estimate_credits("ai-music-generator", {"duration": float("nan")}) == 300


@pytest.mark.parametrize(("duration", "credits"), [(0, 300), (-5, 300), (1, 1), (0.5, 1)])
def test_a_duration_field_that_is_no_positive_duration_is_the_longest(duration: float, credits: int) -> None:
    assert rates.estimate_credits("ai-music-generator", {"duration": duration}) == credits


def _tool(monkeypatch: pytest.MonkeyPatch, kind: str, schema: dict[str, Any], entry: dict[str, Any]) -> str:
    """A tool of `kind` with `schema` and its own rate `entry`: the cases no shipped tool has."""
    tool = catalogue.Tool("synthetic", kind, (), schema)  # type: ignore[arg-type]
    table = json.loads(rates.RATES_PATH.read_text())
    table["tools"]["synthetic"] = {**entry, "source": "test"}
    monkeypatch.setattr(rates, "find_tool", lambda name: tool if name == "synthetic" else None)
    monkeypatch.setattr(rates, "_table", lambda: table)
    return "synthetic"


def test_rates_of_one_tool_add_up(monkeypatch: pytest.MonkeyPatch) -> None:
    schema = {"properties": {"end_seconds": {"maximum": 60}, "image_count": {"maximum": 4}}}
    name = _tool(
        monkeypatch, "video", schema, {"credits_per_job": 7, "credits_per_second": 2, "credits_per_image": 3}
    )
    assert rates.estimate_credits(name, {"end_seconds": 10, "image_count": 2}) == 7 + 20 + 6


def test_where_the_schema_sets_no_bound_the_longest_is_an_hour_and_the_most_images_one(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    name = _tool(monkeypatch, "video", {"properties": {"image_count": {}}}, {"credits_per_second": 1})
    assert rates.estimate_credits(name, {}) == 3600
    name = _tool(monkeypatch, "image", {"properties": {"image_count": {}}}, {"credits_per_image": 5})
    assert rates.estimate_credits(name, {"image_count": "many"}) == 5
    name = _tool(monkeypatch, "image", {}, {"credits_per_image": 5})  # no properties at all
    assert rates.estimate_credits(name, {"image_count": 3}) == 5
    name = _tool(monkeypatch, "audio", {}, {"credits_per_second": 1, "duration_field": "duration"})
    assert rates.estimate_credits(name, {}) == 3600


def test_a_tool_entry_wins_over_its_kind(monkeypatch: pytest.MonkeyPatch) -> None:
    table = json.loads(rates.RATES_PATH.read_text())
    table["tools"]["ai-voice-cloner"] = {"credits_per_job": 35, "source": "test"}
    monkeypatch.setattr(rates, "_table", lambda: table)
    assert rates.estimate_credits("ai-voice-cloner", {}) == 35
    assert rates.estimate_credits("ai-voice-generator", {}) == 20


def test_the_api_docs_show_the_rates_of_the_table() -> None:
    table = json.loads(rates.RATES_PATH.read_text())
    text = (ROOT / "docs" / "api.md").read_text()
    section = text.split("## What a job costs", 1)[1].split("\n## ", 1)[0]
    kinds = table["kinds"]
    assert re.search(rf"\| video \| {kinds['video']['credits_per_second']} credits per second \|", section)
    assert re.search(rf"\| image \| {kinds['image']['credits_per_image']} credits per image \|", section)
    assert re.search(rf"\| audio \| {kinds['audio']['credits_per_job']} credits per job \|", section)
    for name, entry in table["tools"].items():
        if "credits_per_job" in entry:
            assert f"`{name}` {entry['credits_per_job']}" in section
        else:
            rate = f"`{name}` {entry['credits_per_second']} per second of `{entry['duration_field']}`"
            assert rate in section
