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
    for tool in catalogue.all_tools().values():
        rate = rates.rate_of(tool)
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
    with pytest.raises(KeyError):
        rates.estimate_credits("no-such-tool", {})


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
