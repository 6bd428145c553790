"""The shipped Magic Hour tool catalogue and input validation (pipeline.magic_hour.catalogue)."""

from __future__ import annotations

import copy
import importlib.util
import json
from collections import Counter
from pathlib import Path
from typing import Any

import pytest

from pipeline.magic_hour import catalogue

ROOT = Path(__file__).resolve().parents[2]
SPEC_PATH = ROOT / "spec" / "magic-hour" / "openapi.json"
SYNC_SCRIPT = ROOT / "scripts" / "sync_magic_hour_spec.py"

VIDEO_TOOLS = {
    "ai-talking-photo",
    "ai-video-editor",
    "animation",
    "audio-to-video",
    "ai-ugc-ad",
    "ai-video-translator",
    "ai-video-upscaler",
    "auto-subtitle-generator",
    "character-replace",
    "face-swap",
    "image-to-video",
    "lip-sync",
    "text-to-video",
    "video-to-video",
}
IMAGE_TOOLS = {
    "ai-clothes-changer",
    "ai-face-editor",
    "ai-gif-generator",
    "ai-headshot-generator",
    "ai-image-editor",
    "ai-image-generator",
    "ai-image-upscaler",
    "ai-meme-generator",
    "ai-qr-code-generator",
    "body-swap",
    "face-swap-photo",
    "head-swap",
    "image-background-remover",
    "photo-colorizer",
}
AUDIO_TOOLS = {"ai-music-generator", "ai-voice-generator", "ai-voice-cloner"}

FACE_SWAP_OK: dict[str, Any] = {
    "start_seconds": 0,
    "end_seconds": 10,
    "assets": {
        "video_source": "file",
        "video_file_path": "https://example.com/in.mp4",
        "image_file_path": "https://example.com/face.png",
    },
}


def face_swap_input(**changes: Any) -> dict[str, Any]:
    value = copy.deepcopy(FACE_SWAP_OK)
    value.update(changes)
    return value


def tool(name: str) -> catalogue.Tool:
    found = catalogue.find_tool(name)
    assert found is not None, name
    return found


def test_catalogue_has_31_tools_14_video_14_image_3_audio() -> None:
    # The spec's 27 and the SDK's four more (CONTRACT §1b).
    tools = catalogue.all_tools()
    assert len(tools) == 31
    assert Counter(entry.kind for entry in tools.values()) == {"video": 14, "image": 14, "audio": 3}


def test_catalogue_names_and_kinds_match_api_md() -> None:
    tools = catalogue.all_tools()
    assert {name for name, entry in tools.items() if entry.kind == "video"} == VIDEO_TOOLS
    assert {name for name, entry in tools.items() if entry.kind == "image"} == IMAGE_TOOLS
    assert {name for name, entry in tools.items() if entry.kind == "audio"} == AUDIO_TOOLS


def test_tool_entries_are_consistent() -> None:
    for name, entry in catalogue.all_tools().items():
        assert entry.name == name
        assert sorted(entry.required) == sorted(entry.request_schema.get("required", []))
        # Unknown top-level fields are refused before any credit is spent.
        assert entry.request_schema.get("additionalProperties") is False, name


def test_find_tool_unknown_is_none() -> None:
    assert catalogue.find_tool("face-swap-but-not") is None
    assert catalogue.find_tool("") is None


def test_face_swap_required_fields() -> None:
    assert set(tool("face-swap").required) == {"start_seconds", "end_seconds", "assets"}


def test_valid_input_is_accepted() -> None:
    assert catalogue.check_input(tool("face-swap"), face_swap_input()) is None
    assert (
        catalogue.check_input(tool("ai-image-generator"), {"image_count": 1, "style": {"prompt": "a cat"}})
        is None
    )


def test_missing_required_field_is_reported_with_its_location() -> None:
    value = face_swap_input()
    del value["start_seconds"]
    problem = catalogue.check_input(tool("face-swap"), value)
    assert problem is not None
    assert problem.loc[:2] == ("body", "input")
    assert "start_seconds" in problem.loc or "start_seconds" in problem.msg


def test_missing_nested_required_field_is_reported_under_its_parent() -> None:
    value = face_swap_input()
    del value["assets"]["video_source"]
    problem = catalogue.check_input(tool("face-swap"), value)
    assert problem is not None
    assert problem.loc[:3] == ("body", "input", "assets")
    assert "video_source" in problem.loc or "video_source" in problem.msg


def test_wrong_type_is_reported_at_the_field() -> None:
    problem = catalogue.check_input(tool("face-swap"), face_swap_input(start_seconds="zero"))
    assert problem is not None
    assert problem.loc == ("body", "input", "start_seconds")
    assert "number" in problem.msg


def test_enum_violation_is_reported_at_the_nested_field() -> None:
    value = face_swap_input()
    value["assets"]["video_source"] = "vimeo"
    problem = catalogue.check_input(tool("face-swap"), value)
    assert problem is not None
    assert problem.loc == ("body", "input", "assets", "video_source")
    assert "youtube" in problem.msg
    assert not problem.msg.startswith("data")


@pytest.mark.parametrize("count", [0, 17])
def test_out_of_bounds_number_is_reported_at_the_field(count: int) -> None:
    problem = catalogue.check_input(
        tool("ai-image-generator"), {"image_count": count, "style": {"prompt": "x"}}
    )
    assert problem is not None
    assert problem.loc == ("body", "input", "image_count")


def test_bounds_are_inclusive() -> None:
    for count in (1, 16):
        assert (
            catalogue.check_input(
                tool("ai-image-generator"), {"image_count": count, "style": {"prompt": "x"}}
            )
            is None
        )


def test_negative_seconds_are_refused() -> None:
    problem = catalogue.check_input(tool("face-swap"), face_swap_input(start_seconds=-1))
    assert problem is not None
    assert problem.loc == ("body", "input", "start_seconds")


def test_unknown_top_level_field_is_refused() -> None:
    problem = catalogue.check_input(tool("face-swap"), face_swap_input(start_secnds=1))
    assert problem is not None
    assert problem.loc[:2] == ("body", "input")
    assert "start_secnds" in problem.msg or "start_secnds" in problem.loc


def test_unknown_nested_field_is_refused_under_its_parent() -> None:
    value = face_swap_input()
    value["assets"]["video_path"] = "oops"
    problem = catalogue.check_input(tool("face-swap"), value)
    assert problem is not None
    assert problem.loc[:3] == ("body", "input", "assets")
    assert "video_path" in problem.msg or "video_path" in problem.loc


def test_check_input_does_not_fill_in_defaults() -> None:
    # face-swap declares defaults for `name` and `assets.face_swap_mode`.
    schema = tool("face-swap").request_schema
    assert "default" in schema["properties"]["name"]
    assert "default" in schema["properties"]["assets"]["properties"]["face_swap_mode"]
    value = face_swap_input()
    before = copy.deepcopy(value)
    assert catalogue.check_input(tool("face-swap"), value) is None
    assert value == before
    assert "name" not in value
    assert "face_swap_mode" not in value["assets"]


def test_check_input_does_not_fill_in_defaults_for_image_tools() -> None:
    value = {"image_count": 2, "style": {"prompt": "a cat"}}
    before = copy.deepcopy(value)
    assert catalogue.check_input(tool("ai-image-generator"), value) is None
    assert value == before


def _load_sync_script() -> Any:
    spec = importlib.util.spec_from_file_location("sync_magic_hour_spec_under_test", SYNC_SCRIPT)
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_committed_catalogue_matches_the_spec_and_the_sdk() -> None:
    script = _load_sync_script()
    derived, additions = script.derive_all(json.loads(SPEC_PATH.read_text()))
    committed = json.loads(catalogue.CATALOGUE_PATH.read_text())
    assert derived == committed, "run `make sync-spec` and commit the result"
    doc = script.sdk_merge.document(derived, additions)
    assert script.DOC.read_text() == doc, "run `make sync-spec` and commit docs/magic-hour-tools.md"


def test_sync_script_defaults_to_the_spec_in_the_repository() -> None:
    assert _load_sync_script().DEFAULT_SPEC == SPEC_PATH
    assert SPEC_PATH.is_file()
