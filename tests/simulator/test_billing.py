"""The simulator bills at the product's rate table (pipeline/magic_hour/rates.py), so what a job is
estimated to cost before its create is what the simulated Magic Hour charges."""

from __future__ import annotations

from typing import Any

import pytest

from pipeline.magic_hour.rates import estimate_credits

from .helpers import SimClient

BODIES: list[tuple[str, dict[str, Any]]] = [
    (
        "face-swap",
        {
            "start_seconds": 2,
            "end_seconds": 12.5,
            "assets": {
                "video_source": "file",
                "video_file_path": "https://e.x/v.mp4",
                "image_file_path": "https://e.x/f.png",
            },
        },
    ),
    ("ai-ugc-ad", {"assets": {"image_file_path": "https://e.x/a.png"}, "end_seconds": 8, "script": "Buy it"}),
    ("ai-image-generator", {"image_count": 3, "style": {"prompt": "owls"}}),
    ("ai-voice-generator", {"style": {"prompt": "hi", "voice_name": "Elon Musk"}}),
    ("ai-music-generator", {"duration": 95, "style": {"prompt": "lofi"}}),
]


@pytest.mark.parametrize(("tool", "body"), BODIES, ids=[tool for tool, _ in BODIES])
def test_the_charge_is_the_rate_tables_estimate(sim: SimClient, tool: str, body: dict[str, Any]) -> None:
    answer = sim.create_raw(tool, body)
    assert answer.status_code == 200, answer.text
    assert answer.json()["credits_charged"] == estimate_credits(tool, body)


def test_music_is_billed_per_second_of_its_duration(sim: SimClient) -> None:
    short = sim.create_raw("ai-music-generator", {"duration": 15, "style": {"prompt": "x"}}).json()
    long = sim.create_raw("ai-music-generator", {"duration": 300, "style": {"prompt": "x"}}).json()
    assert (short["credits_charged"], long["credits_charged"]) == (15, 300)
