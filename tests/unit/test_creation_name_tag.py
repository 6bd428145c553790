"""The create body carries the job's name tag only where the tool has a `name` field (create/creation.py)."""

from __future__ import annotations

from typing import Any

import pytest

from pipeline.create import creation
from pipeline.magic_hour import catalogue
from pipeline.models.job import Job, JobStatus
from pipeline.platform.timeutil import now_iso

TAG = "ad [job_aaaaaaaaaaaaaaaaaaaaaaaaaa]"


def _job(tool: str, tool_input: dict[str, Any]) -> Job:
    now = now_iso()
    return Job(
        job_id="job_aaaaaaaaaaaaaaaaaaaaaaaaaa",
        client_id="client-a",
        tool=tool,
        kind=catalogue.all_tools()[tool].kind,
        status=JobStatus.SUBMITTING,
        created_at=now,
        updated_at=now,
        magic_hour_name=TAG,
        input=tool_input,
    )


def test_tools_without_a_name_field_are_only_ai_ugc_ad() -> None:
    assert {name for name, tool in catalogue.all_tools().items() if not tool.takes_name} == {"ai-ugc-ad"}


@pytest.mark.parametrize(
    ("tool", "tool_input"),
    [
        ("ai-voice-generator", {"style": {"prompt": "hi"}}),
        ("ai-music-generator", {"duration": 15, "style": {"prompt": "lofi"}}),
    ],
)
def test_a_tool_with_a_name_gets_the_tag(tool: str, tool_input: dict[str, Any]) -> None:
    assert creation.magic_hour_body(_job(tool, tool_input)) == {**tool_input, "name": TAG}


def test_ai_ugc_ad_is_sent_without_a_name_it_would_refuse() -> None:
    tool_input = {"assets": {"image_file_path": "https://e.x/a.png"}, "end_seconds": 5, "script": "Buy it"}
    body = creation.magic_hour_body(_job("ai-ugc-ad", tool_input))
    assert body == tool_input
    assert catalogue.check_input(catalogue.all_tools()["ai-ugc-ad"], body) is None
