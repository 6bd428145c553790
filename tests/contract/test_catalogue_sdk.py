"""The catalogue has every create endpoint and request field of the pinned official SDK.

Walks the SDK's own request types (TypedDicts) rather than the sync script's schemas, so a field
the script failed to carry over, or a newer SDK pinned without `make sync-spec`, fails here.
"""

from __future__ import annotations

import typing
from importlib.metadata import version
from typing import Any

import pytest
import typing_extensions

from pipeline.magic_hour import catalogue
from scripts import magic_hour_sdk

SDK_ONLY = {"ai-music-generator", "ai-ugc-ad", "ai-video-translator", "ai-video-upscaler"}
SDK_TOOLS = magic_hour_sdk.create_endpoints()


def test_the_pinned_sdk_is_0_90_0_with_31_create_endpoints() -> None:
    assert version("magic-hour") == "0.90.0"
    assert len(SDK_TOOLS) == 31
    assert set(SDK_TOOLS) >= SDK_ONLY


def test_catalogue_has_every_sdk_create_endpoint_with_its_kind() -> None:
    tools = catalogue.all_tools()
    missing = set(SDK_TOOLS) - set(tools)
    assert not missing, (
        f"the SDK has create endpoints the catalogue lacks: {sorted(missing)}; run make sync-spec"
    )
    for name, sdk in SDK_TOOLS.items():
        assert tools[name].kind == sdk.kind, name


def _field_paths(typed_dict: Any, prefix: str = "") -> list[tuple[str, Any]]:
    """Every (dotted path, type) of a TypedDict, nested TypedDicts and lists of them included."""
    found: list[tuple[str, Any]] = []
    for key, hint in typing.get_type_hints(typed_dict, include_extras=True).items():
        while typing.get_origin(hint) in (typing.Required, typing.NotRequired):
            hint = typing.get_args(hint)[0]
        path = f"{prefix}{key}"
        found.append((path, hint))
        inner = [hint, *typing.get_args(hint)]
        for candidate in inner:
            for nested in [candidate, *typing.get_args(candidate)]:
                if typing_extensions.is_typeddict(nested):
                    found.extend(
                        _field_paths(nested, f"{path}[]." if typing.get_origin(hint) is list else f"{path}.")
                    )
    return found


def _schema_at(schema: dict[str, Any], path: str) -> dict[str, Any] | None:
    node: dict[str, Any] | None = schema
    for part in path.split("."):
        if node is None:
            return None
        array = part.endswith("[]")
        node = node.get("properties", {}).get(part.removesuffix("[]"))
        if array and node is not None:
            node = node.get("items")
    return node


@pytest.mark.parametrize("tool", sorted(SDK_TOOLS))
def test_catalogue_has_every_request_field_of_the_sdk(tool: str) -> None:
    entry = catalogue.find_tool(tool)
    assert entry is not None
    missing = [
        path
        for path, _ in _field_paths(SDK_TOOLS[tool].body_type)
        if _schema_at(entry.request_schema, path) is None
    ]
    assert not missing, f"{tool}: the SDK has fields the catalogue lacks: {missing}; run make sync-spec"


@pytest.mark.parametrize("tool", sorted(SDK_TOOLS))
def test_catalogue_accepts_every_enum_value_of_the_sdk(tool: str) -> None:
    entry = catalogue.find_tool(tool)
    assert entry is not None
    for path, hint in _field_paths(SDK_TOOLS[tool].body_type):
        if typing.get_origin(hint) is typing.Literal:
            field = _schema_at(entry.request_schema, path)
            assert field is not None
            lacking = set(typing.get_args(hint)) - set(field.get("enum", []))
            assert not lacking, f"{tool}.{path} lacks {sorted(lacking)}"


def test_sdk_required_fields_are_required() -> None:
    for name in SDK_ONLY:
        entry = catalogue.find_tool(name)
        assert entry is not None
        assert set(entry.required) == set(SDK_TOOLS[name].body_type.__required_keys__)  # type: ignore[attr-defined]


def test_sdk_bounds_from_prose_are_enforced() -> None:
    music = catalogue.find_tool("ai-music-generator")
    assert music is not None
    ok = {"duration": 15, "style": {"prompt": "lofi"}}
    assert catalogue.check_input(music, ok) is None
    for duration in (14, 301):
        problem = catalogue.check_input(music, {**ok, "duration": duration})
        assert problem is not None
        assert problem.loc == ("body", "input", "duration")


def test_new_sdk_field_on_a_spec_tool_is_accepted_and_still_closed() -> None:
    replace = catalogue.find_tool("character-replace")
    assert replace is not None
    body: dict[str, Any] = {
        "end_seconds": 5,
        "assets": {"video_file_path": "https://e.x/v.mp4", "image_file_path": "https://e.x/c.png"},
    }
    assert catalogue.check_input(replace, body) is None
    assert catalogue.check_input(replace, {**body, "model": "kling-3.0"}) is None
    assert catalogue.check_input(replace, {**body, "model": "kling-9"}) is not None
    assert catalogue.check_input(replace, {**body, "modle": "kling-3.0"}) is not None
