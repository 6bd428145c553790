"""Complete the spec's catalogue from the SDK's, and write docs/magic-hour-tools.md about it.

The spec's schema is the base: its bounds, defaults and descriptions of a field are kept. The SDK
adds what the spec lacks: whole create endpoints, fields (at any depth), and enum values (new
models, voices, templates). It never removes anything: a field the SDK dropped may still be sent
by older clients, and Magic Hour answers it (or refuses it) itself.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass
from typing import Any

from pipeline.magic_hour.catalogue import DEFAULT_NUMBER_BOUND, INPUT_BOUNDS
from scripts.magic_hour_sdk import SdkTool, sdk_version


@dataclass(frozen=True)
class Addition:
    tool: str
    path: str  # dotted, "" for a whole tool
    what: str  # "tool", "field" or "enum values"
    schema: dict[str, Any]
    declared_in: str  # the SDK type
    sdk_says: str  # its docstring


def complete(catalogue: dict[str, Any], sdk_tools: dict[str, SdkTool]) -> list[Addition]:
    """Adds to `catalogue` (in place) what the SDK has and the spec lacks; returns the additions."""
    tools: dict[str, Any] = catalogue["tools"]
    additions: list[Addition] = []
    for name, sdk in sdk_tools.items():
        entry = tools.get(name)
        if entry is None:
            schema = copy.deepcopy(sdk.request_schema)
            schema["$schema"] = "http://json-schema.org/draft-07/schema#"
            tools[name] = {
                "kind": sdk.kind,
                "summary": sdk.summary,
                "operation_id": "",
                "required": sorted(schema.get("required", [])),
                "request_schema": schema,
            }
            additions.append(Addition(name, "", "tool", {}, sdk.body_type.__name__, sdk.summary))
            additions.extend(_every_field(sdk, sdk.request_schema, ""))
            continue
        _merge(sdk, entry["request_schema"], sdk.request_schema, "", additions)
    catalogue["tools"] = dict(sorted(tools.items()))
    return additions


def _merge(
    sdk: SdkTool, ours: dict[str, Any], theirs: dict[str, Any], prefix: str, out: list[Addition]
) -> None:
    for key, their_field in theirs.get("properties", {}).items():
        path = f"{prefix}{key}"
        properties = ours.setdefault("properties", {})
        if key not in properties:
            properties[key] = copy.deepcopy(their_field)
            out.append(_addition(sdk, path, "field", their_field))
            out.extend(_every_field(sdk, their_field, f"{path}."))
            continue
        _merge_field(sdk, properties[key], their_field, path, out)


def _merge_field(
    sdk: SdkTool, ours: dict[str, Any], theirs: dict[str, Any], path: str, out: list[Addition]
) -> None:
    if "enum" in ours and "enum" in theirs:
        new = [value for value in theirs["enum"] if value not in ours["enum"]]
        if new:
            ours["enum"] = [*ours["enum"], *new]
            out.append(_addition(sdk, path, "enum values", {"enum": new}))
    if "properties" in ours and "properties" in theirs:
        _merge(sdk, ours, theirs, f"{path}.", out)
    if isinstance(ours.get("items"), dict) and isinstance(theirs.get("items"), dict):
        _merge_field(sdk, ours["items"], theirs["items"], f"{path}[]", out)


def _every_field(sdk: SdkTool, schema: dict[str, Any], prefix: str) -> list[Addition]:
    found: list[Addition] = []
    node = schema
    if schema.get("type") == "array" and isinstance(schema.get("items"), dict):
        node, prefix = schema["items"], f"{prefix.removesuffix('.')}[]."
    for key, field in node.get("properties", {}).items():
        path = f"{prefix}{key}"
        found.append(_addition(sdk, path, "field", field))
        found.extend(_every_field(sdk, field, f"{path}."))
    return found


def _addition(sdk: SdkTool, path: str, what: str, schema: dict[str, Any]) -> Addition:
    declared_in, says = sdk.fields.get(path, ("", ""))
    return Addition(sdk.name, path, what, schema, declared_in, says)


def _describe(addition: Addition) -> str:
    """Type and bounds as the catalogue enforces them, name-based bounds included."""
    schema = addition.schema
    if addition.what == "enum values":
        return _enum(schema["enum"])
    types = schema.get("type", "any")
    text = "/".join(types) if isinstance(types, list) else str(types)
    if "enum" in schema:
        text += " " + _enum(schema["enum"])
    bounds = []
    if {"number", "integer"} & set(types if isinstance(types, list) else [types]):
        field = addition.path.rsplit(".", 1)[-1]
        low, high = INPUT_BOUNDS.get(field, (-DEFAULT_NUMBER_BOUND, DEFAULT_NUMBER_BOUND))
        bounds.append(f">= {schema['minimum']}" if "minimum" in schema else "")
        bounds[-1] = bounds[-1] or (
            f"> {schema['exclusiveMinimum']}" if "exclusiveMinimum" in schema else f">= {low:g}"
        )
        bounds.append(f"<= {schema['maximum']}" if "maximum" in schema else f"<= {high:g}")
    if "maxItems" in schema:
        bounds.append(f"at most {schema['maxItems']} items")
    if "minLength" in schema:
        bounds.append(f"length >= {schema['minLength']}")
    if "maxLength" in schema:
        bounds.append(f"length <= {schema['maxLength']}")
    return text + (f" ({', '.join(bounds)})" if bounds else "")


def _enum(values: list[Any]) -> str:
    shown = ", ".join(f"`{value}`" for value in values[:6])
    return f"one of {shown}" + (f" and {len(values) - 6} more" if len(values) > 6 else "")


def _cell(text: str, limit: int = 220) -> str:
    text = text.replace("|", "\\|")
    return text if len(text) <= limit else text[: limit - 1].rstrip() + "…"


def document(catalogue: dict[str, Any], additions: list[Addition]) -> str:
    tools = catalogue["tools"]
    from_sdk = {a.tool for a in additions if a.what == "tool"}
    lines = [
        "# Magic Hour tools",
        "",
        "<!-- Written by `make sync-spec` (scripts/sync_magic_hour_spec.py): edit the script, not this. -->",
        "",
        f"The {len(tools)} create endpoints this deployment accepts (`GET /v1/tools`), each validated",
        "against its own request schema before any credit is spent. The catalogue",
        "(`shared/pipeline/magic_hour/data/magic_hour_tools.json`) follows the newer of Magic Hour's",
        f"published spec (`spec/magic-hour/openapi.json`, {catalogue['source']['version']}) and its official",
        f"SDK (magic-hour {sdk_version()}, pinned in the dev dependencies): the spec is the base, and the",
        "SDK's request types add the tools, fields and enum values the spec lacks. Unknown fields are",
        "refused. Numbers neither source bounds get a bound by field name (`INPUT_BOUNDS` in",
        f"`shared/pipeline/magic_hour/catalogue.py`), else ±{DEFAULT_NUMBER_BOUND:,}. To update: replace",
        "the spec and/or the SDK pin, run `make sync-spec`, commit; `tests/contract/test_catalogue_sdk.py`",
        "fails while the pinned SDK has a create endpoint or a request field the catalogue lacks.",
        "",
        "## The tools",
        "",
        "| tool | kind | required | source |",
        "|---|---|---|---|",
    ]
    for name, entry in tools.items():
        source = f"SDK ({sdk_version()})" if name in from_sdk else "spec"
        required = ", ".join(f"`{field}`" for field in entry["required"])
        lines.append(f"| `{name}` | {entry['kind']} | {required} | {source} |")
    lines += [
        "",
        "## What the SDK adds",
        "",
        "Every field (or enum value) taken from the SDK's request types, with the type and bounds the",
        "catalogue enforces. A bound the SDK only states in prose is in `SDK_BOUNDS`",
        "(`scripts/magic_hour_sdk.py`); one that depends on another field (a clip length per model) is",
        "left to Magic Hour, which answers `422 upstream_rejected`.",
        "",
        "| tool | field | added | type and bounds | SDK type | the SDK says |",
        "|---|---|---|---|---|---|",
    ]
    for a in additions:
        if a.what == "tool":
            continue
        cells = [
            f"`{a.tool}`",
            f"`{a.path}`",
            a.what,
            _cell(_describe(a)),
            f"`{a.declared_in}`",
            _cell(a.sdk_says),
        ]
        lines.append(f"| {' | '.join(cells)} |")
    return "\n".join(lines) + "\n"
